package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// print writes the report: the machine line, then the table.
func (b *bench) print(loadStart string) {
	fmt.Printf("\nMachine: %d cores, %s, %s, %s; load generator: %s; load average %s at start, %s at end\n\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), "DuckDB "+duckdbVersion(), generatorName(), loadStart, loadAverage())
	fmt.Println("| | measure | csvapi | reference | ratio | target | met? |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range b.results {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.section, r.measure, dash(r.csvapi), dash(r.reference), dash(r.ratio), dash(r.target), dash(r.met))
	}
	fmt.Printf("\nFigures are medians over %d round(s), min–max in brackets; ratios are taken round by round (csvapi and its reference one after the other, in turn first), then their median.\n", b.rounds)
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// sample is one figure measured once per round.
type sample []float64

func (s sample) sorted() []float64 { c := slices.Clone([]float64(s)); slices.Sort(c); return c }

func (s sample) median() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := s.sorted()
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func (s sample) min() float64 { return slices.Min(s) }
func (s sample) max() float64 { return slices.Max(s) }

// format prints the median with prec decimals and its unit, and min–max
// in brackets when there are several rounds: "1.12 s (1.05–1.30)".
func (s sample) format(prec int, unit string) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	if len(s) == 1 {
		return f(s[0]) + unit
	}
	return fmt.Sprintf("%s%s (%s–%s)", f(s.median()), unit, f(s.min()), f(s.max()))
}

func secs(v float64) string { return fmt.Sprintf("%.2f s", v) }
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// throughput prints requests per second and p50 over the rounds, and the
// errors if any.
func throughput(runs []stats) string {
	var rps, p50 sample
	for _, s := range runs {
		rps, p50 = append(rps, s.rps), append(p50, ms(s.p50))
	}
	prec := 0
	if p50.median() < 10 {
		prec = 2
	}
	return rps.format(0, " req/s") + ", p50 " + p50.format(prec, " ms") + errorNote(runs)
}

// errorNote flags failed requests: a figure with errors is not a result.
func errorNote(runs []stats) string {
	if n := errorsOf(runs); n > 0 {
		return fmt.Sprintf(", **%d errors**", n)
	}
	return ""
}

func errorsOf(runs []stats) int64 {
	var n int64
	for _, s := range runs {
		n += s.errors
	}
	return n
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// thousands writes n with comma separators: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
}

func mbps(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MB/s", float64(n)/(1<<20)/d.Seconds())
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return runtime.GOARCH
}

// loadAverage is the 1-minute load average: above 0.5 or so, another
// process shared the machine and the figures are noisy.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
