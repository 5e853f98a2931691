package convert

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as a conversion worker, or as a worker
// that misbehaves, when CONVERT_TEST_WORKER says so.
func TestMain(m *testing.M) {
	switch os.Getenv("CONVERT_TEST_WORKER") {
	case "":
		os.Exit(m.Run())
	case "serve":
		if err := ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	case "unchecked": // a real worker without the structural checks
		structuralChecks = false
		if err := ServeWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Exit(2)
		}
		os.Exit(0)
	case "segv": // a reader crashing in C code
		syscall.Kill(os.Getpid(), syscall.SIGSEGV)
	case "hog": // a reader whose memory grows without bound
		var keep [][]byte
		for len(keep) >= 0 { // until killed; keep stays reachable
			b := make([]byte, 16<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "hang": // a reader that never returns
		select {}
	case "garbage": // a worker that answers nonsense
		os.Stdout.WriteString("not json\n")
		os.Exit(0)
	}
	os.Exit(3)
}

// testWorker returns a Worker that runs this test binary in the given mode.
func testWorker(mode string) *Worker {
	return &Worker{Command: []string{os.Args[0]}, Env: []string{"CONVERT_TEST_WORKER=" + mode}, MemoryLimit: 1 << 30}
}

func testJob(t *testing.T, content string) Job {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "source")
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	return Job{Source: src, WorkDir: work, Out: filepath.Join(dir, "out.duckdb"), MaxSize: 1 << 20, Meta: Meta{ID: "test"}}
}

func TestWorkerConverts(t *testing.T) {
	job := testJob(t, "code;nom;population\n01001;L'Abergement;832\n2A004;Ajaccio;71361\n")
	m, err := testWorker("serve").Convert(t.Context(), job)
	if err != nil {
		t.Fatalf("Convert: %v", err)
	}
	if m.Rows != 2 || len(m.Columns) != 3 || m.Delimiter != ";" || m.ID != "test" {
		t.Errorf("meta: rows %d, columns %d, delimiter %q, id %q; want 2, 3, \";\", test", m.Rows, len(m.Columns), m.Delimiter, m.ID)
	}
	if _, err := os.Stat(job.Out); err != nil {
		t.Errorf("the database file was not built: %v", err)
	}
}

// The categories callers branch on survive the process boundary.
func TestWorkerErrors(t *testing.T) {
	t.Run("not tabular", func(t *testing.T) {
		_, err := testWorker("serve").Convert(t.Context(), testJob(t, "<!DOCTYPE html><html><body>x</body></html>"))
		if !errors.Is(err, ErrNotTabular) {
			t.Errorf("got %v, want ErrNotTabular", err)
		}
	})
	t.Run("option", func(t *testing.T) {
		job := testJob(t, "a,b\n1,2\n")
		job.Options.Delimiter = "ab"
		_, err := testWorker("serve").Convert(t.Context(), job)
		var opt *OptionError
		if !errors.As(err, &opt) || opt.Option != "delimiter" {
			t.Errorf("got %v, want an *OptionError on delimiter", err)
		}
	})
	t.Run("too many columns", func(t *testing.T) {
		job := testJob(t, "a,b,c,d\n1,2,3,4\n")
		job.Options.MaxColumns = 3
		_, err := testWorker("serve").Convert(t.Context(), job)
		if !errors.Is(err, ErrTooManyColumns) {
			t.Errorf("got %v, want ErrTooManyColumns", err)
		}
	})
}

// A worker that crashes, grows without bound, hangs or answers nonsense
// costs one conversion: the parent gets an error and nothing is left.
func TestWorkerFailures(t *testing.T) {
	for _, tc := range []struct {
		mode, want string
		timeout    time.Duration
		wantErr    error
	}{
		{mode: "segv", want: "crashed", wantErr: ErrConversionFailed},
		{mode: "hog", want: "memory", wantErr: ErrConversionFailed},
		{mode: "garbage", want: "no answer", wantErr: ErrConversionFailed},
		{mode: "hang", timeout: 500 * time.Millisecond, wantErr: context.DeadlineExceeded},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			w := testWorker(tc.mode)
			w.MemoryLimit = 256 << 20
			var peak int64
			var killed string
			w.OnExit = func(p int64, k string) { peak, killed = p, k }
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			job := testJob(t, "a,b\n1,2\n")
			_, err := w.Convert(ctx, job)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.wantErr, tc.want)
			}
			if tc.mode == "hog" && (killed != "memory" || peak < 200<<20) {
				t.Errorf("hog: killed %q with peak %d, want killed for memory near 256 MiB", killed, peak)
			}
			if _, err := os.Stat(job.Out); !os.IsNotExist(err) {
				t.Errorf("%s exists after a failed conversion", job.Out)
			}
		})
	}
}

func TestJSONDepth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{`[]`, 1},
		{`[{"a": [1, {"b": 2}]}]`, 4},
		{`[{"a": "[[[[[[[["}]`, 2},            // brackets in strings do not count
		{`[{"a": "\"[[[[\\"}]`, 2},            // nor after escaped quotes
		{`{"a":1}` + "\n" + `{"b":[[2]]}`, 3}, // NDJSON
	} {
		got, err := jsonDepth(strings.NewReader(tc.in), 100)
		if err != nil || got != tc.want {
			t.Errorf("jsonDepth(%s) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	deep := `[{"a": ` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}]`
	if got, _ := jsonDepth(strings.NewReader(deep), MaxJSONDepth); got <= MaxJSONDepth {
		t.Errorf("10,000 deep: got %d, want more than %d", got, MaxJSONDepth)
	}
}

func TestSchemaDepth(t *testing.T) {
	for _, tc := range []struct {
		children []int64
		want     int
	}{
		{[]int64{2, 0, 0}, 1},          // root{a, b}
		{[]int64{2, 1, 1, 0, 0}, 3},    // root{a{list{element}}, b}
		{[]int64{1, 1, 1, 1, 1, 0}, 5}, // a chain
		{[]int64{3, 0, 1, 0, 0}, 2},    // root{a, b{c}, d}
	} {
		if got := schemaDepth(tc.children); got != tc.want {
			t.Errorf("schemaDepth(%v) = %d, want %d", tc.children, got, tc.want)
		}
	}
}

// TestWorkerContainsDuckDB feeds DuckDB's JSON reader, in a worker without
// the structural checks, the review's 20 KB JSON nested 10,000 deep (~7 GB,
// then a segfault, in the serving process of round 1): the worker is
// killed at its memory limit and the caller gets an error.
func TestWorkerContainsDuckDB(t *testing.T) {
	if testing.Short() {
		t.Skip("uses 512 MB for a few seconds")
	}
	deep := `[{"a": ` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + `}]`
	w := testWorker("unchecked")
	w.MemoryLimit = 512 << 20
	_, err := w.Convert(t.Context(), testJob(t, deep))
	if !errors.Is(err, ErrConversionFailed) {
		t.Fatalf("got %v, want ErrConversionFailed", err)
	}
	t.Logf("the worker ended with: %v", err)
}

// BenchmarkProcessBoundary measures what the worker process adds to a
// conversion: a process start, a DuckDB instance and the JSON on the
// pipes. The file is tiny so that the difference is the fixed cost.
func BenchmarkProcessBoundary(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "source")
	os.WriteFile(src, []byte("a;b\n1;x\n2;y\n"), 0o644)
	job := func(i int) Job {
		work := filepath.Join(dir, "work"+strconv.Itoa(i))
		os.Mkdir(work, 0o755)
		return Job{Source: src, WorkDir: work, Out: filepath.Join(dir, "out"+strconv.Itoa(i)+".duckdb"), MaxSize: 1 << 20}
	}
	db, err := OpenDB(DBConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		name string
		conv Converter
	}{{"in-process", InProcess{DB: db}}, {"worker", testWorker("serve")}, {"worker-without-netns", noNetns(testWorker("serve"))}, {"worker-with-spare", spare(testWorker("serve"))}} {
		if w, ok := c.conv.(*Worker); ok {
			defer w.Close()
		}
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				if _, err := c.conv.Convert(context.Background(), job(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func noNetns(w *Worker) *Worker {
	w.noNetns.Store(true)
	return w
}

func spare(w *Worker) *Worker {
	w.Spare = true
	return w
}

// BenchmarkProcessBoundaryFile converts the file named by CSVAPI_BENCH_FILE
// (e.g. the 1 M-row file of go run ./bench) in this process and in a
// worker, alternately, to measure the boundary's share of a real load:
//
//	CSVAPI_BENCH_FILE=bench-data/utf8-1000000.csv go test -run '^$' -bench ProcessBoundaryFile -benchtime 3x ./convert/
func BenchmarkProcessBoundaryFile(b *testing.B) {
	src := os.Getenv("CSVAPI_BENCH_FILE")
	if src == "" {
		b.Skip("CSVAPI_BENCH_FILE is not set")
	}
	src, _ = filepath.Abs(src)
	dir := b.TempDir()
	db, err := OpenDB(DBConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w := spare(testWorker("serve"))
	w.MemoryLimit = 4 << 30
	defer w.Close()
	n := 0
	job := func() Job {
		n++
		work := filepath.Join(dir, "work"+strconv.Itoa(n))
		os.Mkdir(work, 0o755)
		return Job{Source: src, WorkDir: work, Out: filepath.Join(dir, "out"+strconv.Itoa(n)+".duckdb"), MaxSize: 1 << 40}
	}
	for _, c := range []struct {
		name string
		conv Converter
	}{{"in-process", InProcess{DB: db}}, {"worker", w}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.conv.Convert(context.Background(), job()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestWorkerSpare: with Spare, a worker is started ahead for the next
// conversion, and Close stops it.
func TestWorkerSpare(t *testing.T) {
	w := spare(testWorker("serve"))
	for range 2 {
		if _, err := w.Convert(t.Context(), testJob(t, "a,b\n1,2\n")); err != nil {
			t.Fatal(err)
		}
	}
	w.spareMu.Lock()
	p := w.spare
	w.spareMu.Unlock()
	if p == nil {
		t.Fatal("no spare worker after a conversion")
	}
	if err := p.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the spare worker is not running: %v", err)
	}
	w.Close()
	if p.cmd.ProcessState == nil || w.spare != nil {
		t.Error("Close left the spare worker running")
	}
}

// TestJSONColumnLimit: a JSON table wider than MaxColumns is refused from
// DuckDB's DESCRIBE, before any table is built.
func TestJSONColumnLimit(t *testing.T) {
	job := testJob(t, `[{"a":1,"b":2,"c":3,"d":4}]`)
	job.Options.MaxColumns = 3
	_, err := InProcess{DB: openTestDB(t)}.Convert(t.Context(), job)
	if !errors.Is(err, ErrTooManyColumns) {
		t.Fatalf("got %v, want ErrTooManyColumns", err)
	}
	if leftovers, _ := filepath.Glob(job.Out + "*"); len(leftovers) > 0 {
		t.Errorf("files left: %v", leftovers)
	}
}
