package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// children are the processes the bench started, so that an error, a panic
// or Ctrl-C never leaves a csvapi (or its conversion workers) running.
var children = struct {
	sync.Mutex
	m map[int]*exec.Cmd
}{m: map[int]*exec.Cmd{}}

// startChild starts cmd in its own process group, killed with the bench
// (Pdeathsig) and by killChildren.
func startChild(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	children.Lock()
	children.m[cmd.Process.Pid] = cmd
	children.Unlock()
	return nil
}

// stopChild asks the process to stop (SIGINT, csvapi's graceful shutdown),
// waits up to grace, then kills its whole process group.
func stopChild(cmd *exec.Cmd, grace time.Duration) {
	pid := cmd.Process.Pid
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
	case <-time.After(grace):
	}
	syscall.Kill(-pid, syscall.SIGKILL) // the group: workers too
	<-done
	children.Lock()
	delete(children.m, pid)
	children.Unlock()
}

// killChildren kills every process group the bench started and still runs.
func killChildren() {
	children.Lock()
	defer children.Unlock()
	for pid := range children.m {
		syscall.Kill(-pid, syscall.SIGKILL)
		delete(children.m, pid)
	}
}

// freeAddr returns a loopback address with a port free at the time of the
// call, so that the bench knows where a process will listen before it
// starts it (and can time the start from the first instruction).
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// service is a csvapi process started by the bench.
type service struct {
	cmd     *exec.Cmd
	base    string
	logPath string
	started time.Time
}

// csvapiArgs are the flags of every csvapi the bench starts: loopback
// upstreams allowed, nothing rate-limited, /apify waiting for the load.
func csvapiArgs(addr, cacheDir string, extra ...string) []string {
	return append([]string{"serve", "--addr", addr, "--cache-dir", cacheDir, "--allow-private",
		"--log-format", "json", "--log-level", "warn", "--rate-limit", "0", "--apify-wait", "10m"}, extra...)
}

// launchCSVAPI starts csvapi on cacheDir (kept as it is) without waiting;
// its log goes to a file beside the cache directory.
func launchCSVAPI(bin, cacheDir string, extra ...string) (*service, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logPath := cacheDir + ".log"
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(bin, csvapiArgs(addr, cacheDir, extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	s := &service{cmd: cmd, base: "http://" + addr, logPath: logPath, started: time.Now()}
	if err := startChild(cmd); err != nil {
		return nil, err
	}
	return s, nil
}

// startCSVAPI starts csvapi on an empty cacheDir and waits until /health
// answers.
func startCSVAPI(bin, cacheDir string, extra ...string) (*service, error) {
	if err := os.RemoveAll(cacheDir); err != nil {
		return nil, err
	}
	return startCSVAPIOn(bin, cacheDir, extra...)
}

// startCSVAPIOn starts csvapi on cacheDir as it is and waits until /health
// answers.
func startCSVAPIOn(bin, cacheDir string, extra ...string) (*service, error) {
	s, err := launchCSVAPI(bin, cacheDir, extra...)
	if err != nil {
		return nil, err
	}
	if _, err := s.waitOK("/health", time.Minute); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitOK polls path until it answers 200, and returns the time from the
// process start to that answer. It fails early when the process exits.
func (s *service) waitOK(path string, limit time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := client.Get(s.base + path)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(s.started), nil
			}
			if resp.StatusCode == http.StatusNotFound {
				return 0, fmt.Errorf("GET %s: 404", path)
			}
		}
		if exited(s.cmd.Process.Pid) {
			return 0, fmt.Errorf("csvapi exited at start; its log:\n%s", tail(s.logPath, 20))
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("GET %s: no 200 within %s; csvapi's log:\n%s", path, limit, tail(s.logPath, 20))
}

// exited says whether pid is gone or a zombie.
func exited(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && (f[0] == "Z" || f[0] == "X")
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *service) stop() { stopChild(s.cmd, 15*time.Second) }

// apify converts a URL and waits until it is ready; it returns the id and
// the time from the request to the ready answer.
func (s *service) apify(fileURL string) (string, time.Duration, error) {
	start := time.Now()
	var body struct {
		OK       bool   `json:"ok"`
		Endpoint string `json:"endpoint"`
		Status   string `json:"status"`
		Error    string `json:"error"`
	}
	if err := getJSON(s.base+"/apify?url="+url.QueryEscape(fileURL), &body); err != nil {
		return "", 0, err
	}
	if body.Endpoint == "" {
		return "", 0, fmt.Errorf("apify %s: no endpoint in the answer", fileURL)
	}
	id := body.Endpoint[strings.LastIndex(body.Endpoint, "/")+1:]
	deadline := time.Now().Add(15 * time.Minute)
	for body.Status != "" && body.Status != "ready" {
		if body.Status == "failed" {
			return "", 0, fmt.Errorf("load failed: %s", body.Error)
		}
		if time.Now().After(deadline) {
			return "", 0, fmt.Errorf("apify %s: not ready after 15 minutes", fileURL)
		}
		time.Sleep(10 * time.Millisecond)
		if err := getJSON(s.base+"/api/"+id+"/status", &body); err != nil {
			return "", 0, err
		}
	}
	return id, time.Since(start), nil
}

// databaseFile is the path of the newest DuckDB file csvapi wrote for id.
func databaseFile(cacheDir, id string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(cacheDir, id+"-*.duckdb"))
	var best string
	var bestTime time.Time
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.ModTime().After(bestTime) {
			best, bestTime = m, st.ModTime()
		}
	}
	if best == "" {
		return "", fmt.Errorf("no database file of %s in %s", id, cacheDir)
	}
	return best, nil
}

// rss is a process's resident memory now (VmRSS) or at its peak (VmHWM).
func rss(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// treeRSS is the resident memory of pid and all its descendants (csvapi's
// spare conversion worker, for one).
func treeRSS(pid int) int64 {
	total := rss(pid, "VmRSS")
	for _, child := range childPIDs(pid) {
		total += treeRSS(child)
	}
	return total
}

// descendants are the pids under pid, at any depth.
func descendants(pid int) []int {
	var out []int
	for _, c := range childPIDs(pid) {
		out = append(out, c)
		out = append(out, descendants(c)...)
	}
	return out
}

func childPIDs(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// peakRSS is the csvapi process's resident memory high-water mark.
func (s *service) peakRSS() int64 { return rss(s.cmd.Process.Pid, "VmHWM") }

// httpClient serves the bench's one-off requests; /apify can wait for a
// long load.
var httpClient = &http.Client{Timeout: 20 * time.Minute}

func getJSON(u string, v any) error {
	resp, err := httpClient.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusAccepted {
		return &statusError{url: u, status: resp.StatusCode, body: string(b)}
	}
	return json.Unmarshal(b, v)
}

// statusError is an answer other than 2xx.
type statusError struct {
	url    string
	status int
	body   string
}

func (e *statusError) Error() string {
	body := e.body
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("GET %s: %d %s", e.url, e.status, body)
}

// isStatus says whether err is an answer with that status.
func isStatus(err error, status int) bool {
	var se *statusError
	return errors.As(err, &se) && se.status == status
}

// download reads a whole answer, returning its size and duration.
func download(u string) (int64, time.Duration, error) {
	start := time.Now()
	resp, err := httpClient.Get(u)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return 0, 0, &statusError{url: u, status: resp.StatusCode, body: string(b)}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return n, time.Since(start), err
}

// startFiberRef starts the reference server (bench/fiberref) and returns
// its base URL and the process.
func startFiberRef(bin string) (string, *exec.Cmd, error) {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = os.Stderr
	if err := startChild(cmd); err != nil {
		return "", nil, err
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
		io.Copy(io.Discard, out)
	}()
	select {
	case addr := <-line:
		return "http://" + addr, cmd, nil
	case <-time.After(30 * time.Second):
		stopChild(cmd, time.Second)
		return "", nil, errors.New("the fiber reference server did not start")
	}
}
