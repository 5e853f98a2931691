package convert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	humanize "github.com/dustin/go-humanize"
)

// ErrConversionFailed is returned when a conversion worker process died or
// was killed: it ran out of its memory or CPU allowance, crashed inside a
// reader, or stopped answering. The message says which limit was hit.
var ErrConversionFailed = errors.New("the conversion failed")

// Defaults of the Worker knobs left at zero.
const (
	DefaultWorkerMemory = 2 << 30
	// DefaultWatchInterval is how often the parent reads the worker's
	// resident memory: the most a worker can overshoot its cap is what it
	// allocates in this time.
	DefaultWatchInterval = 20 * time.Millisecond
)

// Worker runs each conversion in a child process: the same binary started
// with Command (for csvapi, its hidden conversion-worker subcommand, which
// calls ServeWorker). The child has its own DuckDB instance with its own
// memory_limit, a Go memory limit, a CPU-time limit (RLIMIT_CPU), no
// network when the kernel allows a fresh network namespace, and reads only
// the local file the parent downloaded. The parent kills it when its
// resident memory passes MemoryLimit or ctx is done. Whatever happens in
// the child — a segfault in a reader, an internal DuckDB error, an
// out-of-memory kill — the parent gets an error and keeps serving.
type Worker struct {
	Command     []string // program and arguments that start a worker
	Env         []string // extra environment of the worker
	MemoryLimit int64    // resident bytes above which the worker is killed; DuckDB gets 3/4 of it
	Threads     int      // DuckDB threads in the worker; 0: DuckDB's default
	Sandbox     string   // the only directory the worker's DuckDB may touch; empty: no restriction
	// WatchInterval is how often resident memory is read; 0: DefaultWatchInterval.
	WatchInterval time.Duration
	// OnExit, when set, is called after each worker ends, with its peak
	// resident memory and why it was stopped ("" when it exited by itself).
	OnExit func(peakRSS int64, killed string)
	// Logger gets what a failed worker wrote on its standard error (never
	// shown to clients); nil: discarded.
	Logger *slog.Logger

	// Spare keeps one worker started ahead of need (an idle process of a
	// few tens of MB), hiding the process start from every conversion but
	// the first. Close stops it.
	Spare bool

	noNetns atomic.Bool // the kernel refused a network namespace once: stop asking
	spareMu sync.Mutex
	spare   *workerProc
}

var _ Converter = (*Worker)(nil)

// workerRequest is what the parent writes on the worker's standard input.
type workerRequest struct {
	Job         Job    `json:"job"`
	MemoryLimit int64  `json:"memory_limit"`
	Threads     int    `json:"threads"`
	Sandbox     string `json:"sandbox"`
}

// workerResponse is the one JSON document the worker writes on its
// standard output.
type workerResponse struct {
	Meta  *Meta        `json:"meta,omitempty"`
	Error *workerFault `json:"error,omitempty"`
}

// workerFault carries an error across the process boundary with enough
// to rebuild the category callers branch on.
type workerFault struct {
	Kind    string   `json:"kind"`
	Message string   `json:"message"`
	Option  string   `json:"option,omitempty"`
	Param   string   `json:"param,omitempty"`
	Value   string   `json:"value,omitempty"`
	Choices []string `json:"choices,omitempty"`
}

// faultKinds are the sentinel errors that cross the boundary by name.
var faultKinds = map[string]error{
	"too_large":            ErrTooLarge,
	"not_tabular":          ErrNotTabular,
	"unreadable":           ErrUnreadable,
	"too_many_columns":     ErrTooManyColumns,
	"unsupported_encoding": ErrUnsupportedEncoding,
	"invalid_option":       ErrInvalidOption,
}

// Convert runs job in a new worker process and waits for it. It returns
// the errors of the package-level Convert, ErrConversionFailed when the
// worker died or was killed, and ctx's error when ctx is done first (the
// worker is killed then).
func (w *Worker) Convert(ctx context.Context, job Job) (*Meta, error) {
	if len(w.Command) == 0 {
		return nil, errors.New("convert: Worker.Command is empty")
	}
	limit := w.MemoryLimit
	if limit <= 0 {
		limit = DefaultWorkerMemory
	}
	req, err := json.Marshal(workerRequest{Job: job, MemoryLimit: limit, Threads: w.Threads, Sandbox: w.Sandbox})
	if err != nil {
		return nil, err
	}
	proc, err := w.take()
	if err != nil {
		return nil, fmt.Errorf("start conversion worker: %w", err)
	}
	cmd, out, errOut := proc.cmd, proc.out, proc.errOut
	setCPULimit(cmd.Process.Pid, ctx)
	// The worker blocks reading its request: a spare started in advance
	// begins here. A write error means it died; Wait tells how.
	proc.stdin.Write(req)
	proc.stdin.Close()

	var killed atomic.Value // string: why the parent killed it
	var peak atomic.Int64
	stop := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	go func() {
		defer watch.Done()
		w.watch(ctx, cmd.Process, limit, stop, &killed, &peak)
	}()
	werr := cmd.Wait()
	close(stop)
	watch.Wait()

	why, _ := killed.Load().(string)
	if w.OnExit != nil {
		w.OnExit(peak.Load(), why)
	}
	if (werr != nil || why != "") && w.Logger != nil {
		w.Logger.Warn("conversion worker ended", "id", job.Meta.ID, "err", werr, "killed", why,
			"peak_rss", peak.Load(), "stderr", errOut.String())
	}
	switch {
	case why == "context":
		return nil, ctx.Err()
	case why == "memory":
		return nil, fmt.Errorf("%w: it needed more than %s of memory", ErrConversionFailed, humanize.IBytes(uint64(limit)))
	case werr != nil:
		return nil, exitError(werr)
	}
	var resp workerResponse
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil || (resp.Meta == nil && resp.Error == nil) {
		return nil, fmt.Errorf("%w: the conversion process gave no answer", ErrConversionFailed)
	}
	if resp.Error != nil {
		if resp.Error.Kind == "canceled" && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, resp.Error.err()
	}
	return resp.Meta, nil
}

// workerProc is a started worker waiting for its request.
type workerProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bytes.Buffer
	errOut *cappedBuffer
}

// take returns the spare worker, started ahead so that a conversion does
// not wait for a process start and a network namespace, and starts the
// next spare in the background. Without Spare, it starts one now.
func (w *Worker) take() (*workerProc, error) {
	if !w.Spare {
		return w.start()
	}
	w.spareMu.Lock()
	defer w.spareMu.Unlock()
	p := w.spare
	w.spare = nil
	if p == nil {
		var err error
		if p, err = w.start(); err != nil {
			return nil, err
		}
	}
	if next, err := w.start(); err == nil {
		w.spare = next
	}
	return p, nil
}

// Close stops the spare worker, if any.
func (w *Worker) Close() error {
	w.spareMu.Lock()
	defer w.spareMu.Unlock()
	if w.spare != nil {
		w.spare.cmd.Process.Kill()
		w.spare.cmd.Wait()
		w.spare = nil
	}
	return nil
}

// start starts a worker, in a fresh network namespace when the kernel
// allows it. The worker waits for its request on standard input.
func (w *Worker) start() (*workerProc, error) {
	for {
		cmd := exec.Command(w.Command[0], w.Command[1:]...)
		cmd.Env = append(os.Environ(), w.Env...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		p := &workerProc{cmd: cmd, stdin: stdin, out: &bytes.Buffer{}, errOut: &cappedBuffer{max: 16 << 10}}
		cmd.Stdout, cmd.Stderr = p.out, p.errOut
		netns := !w.noNetns.Load()
		cmd.SysProcAttr = workerAttrs(netns)
		err = cmd.Start()
		if err != nil && netns {
			// No user or network namespaces here (a container without the
			// privilege, another OS): run without, the child still has no
			// reason to open a socket.
			w.noNetns.Store(true)
			continue
		}
		if err != nil {
			return nil, err
		}
		return p, nil
	}
}

// watch kills the worker when its resident memory passes limit or ctx is
// done, recording why in killed and the peak memory seen in peak.
func (w *Worker) watch(ctx context.Context, p *os.Process, limit int64, stop <-chan struct{}, killed *atomic.Value, peak *atomic.Int64) {
	interval := w.WatchInterval
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			killed.Store("context")
			p.Kill()
			return
		case <-t.C:
			rss := residentBytes(p.Pid)
			if rss > peak.Load() {
				peak.Store(rss)
			}
			if rss > limit {
				killed.Store("memory")
				p.Kill()
				return
			}
		}
	}
}

// residentBytes returns the resident memory of process pid (VmRSS), or 0
// when it cannot be read (the process is gone, or no /proc).
func residentBytes(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// exitError describes a worker that ended without an answer.
func exitError(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if st, ok := ee.Sys().(syscall.WaitStatus); ok && st.Signaled() {
			switch st.Signal() {
			case syscall.SIGXCPU:
				return fmt.Errorf("%w: it used more CPU time than the load timeout allows", ErrConversionFailed)
			case syscall.SIGKILL:
				return fmt.Errorf("%w: the conversion process was killed (out of memory)", ErrConversionFailed)
			}
			return fmt.Errorf("%w: the conversion process crashed (%s) while reading the file", ErrConversionFailed, st.Signal())
		}
	}
	// A fault in C code reaches Go's signal handler, which exits with
	// status 2 after printing the trace (to the log, never to clients).
	return fmt.Errorf("%w: the conversion process crashed while reading the file", ErrConversionFailed)
}

// err rebuilds the error the worker reported.
func (f *workerFault) err() error {
	switch f.Kind {
	case "option":
		return &OptionError{Option: f.Option, Message: f.Message}
	case "choice":
		return &ChoiceError{Param: f.Param, Value: f.Value, Choices: f.Choices}
	}
	if kind, ok := faultKinds[f.Kind]; ok {
		return &faultError{kind: kind, msg: f.Message}
	}
	return errors.New(f.Message)
}

// faultError is an error reported by a worker: its message as the worker
// wrote it, and its category for errors.Is.
type faultError struct {
	kind error
	msg  string
}

func (e *faultError) Error() string { return e.msg }
func (e *faultError) Unwrap() error { return e.kind }

// faultOf describes err for the parent.
func faultOf(err error) *workerFault {
	var opt *OptionError
	var choice *ChoiceError
	switch {
	case errors.As(err, &opt):
		return &workerFault{Kind: "option", Message: opt.Message, Option: opt.Option}
	case errors.As(err, &choice):
		return &workerFault{Kind: "choice", Param: choice.Param, Value: choice.Value, Choices: choice.Choices}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &workerFault{Kind: "canceled", Message: err.Error()}
	}
	for name, kind := range faultKinds {
		if errors.Is(err, kind) {
			return &workerFault{Kind: name, Message: err.Error()}
		}
	}
	return &workerFault{Kind: "internal", Message: err.Error()}
}

// ServeWorker is the worker side of Worker: it reads one request from r,
// runs the conversion with a DuckDB instance of its own, and writes the
// answer to w. It returns an error only when the request cannot be read
// or the answer written; conversion errors go in the answer.
func ServeWorker(ctx context.Context, r io.Reader, w io.Writer) error {
	var req workerRequest
	if err := json.NewDecoder(io.LimitReader(r, 1<<20)).Decode(&req); err != nil {
		return fmt.Errorf("read conversion request: %w", err)
	}
	resp := workerResponse{}
	meta, err := serveJob(ctx, req)
	if err != nil {
		resp.Error = faultOf(err)
	} else {
		resp.Meta = meta
	}
	return json.NewEncoder(w).Encode(resp)
}

// serveJob opens the worker's DuckDB instance within the request's limits
// and converts.
func serveJob(ctx context.Context, req workerRequest) (*Meta, error) {
	if req.MemoryLimit > 0 {
		// A soft limit for Go's heap (spreadsheet readers, sniffing): the
		// collector works harder near it; the parent's kill is the hard one.
		debug.SetMemoryLimit(req.MemoryLimit / 2)
	}
	cfg := DBConfig{Threads: req.Threads, TempDir: filepath.Join(req.Job.WorkDir, "spill"), Sandbox: req.Sandbox}
	if req.MemoryLimit > 0 {
		cfg.MemoryLimit = strconv.FormatInt(req.MemoryLimit*3/4>>20, 10) + "MB"
	}
	db, err := OpenDB(cfg)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return Convert(ctx, db, req.Job)
}

// cappedBuffer keeps the first max bytes written to it.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
