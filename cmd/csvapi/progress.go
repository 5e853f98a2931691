package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/term"
)

// progress reports the phases of `csvapi convert`: a bar redrawn in place on
// a terminal, plain lines (at most one per phase and per 10%) otherwise, so
// that logs of scripted runs stay readable.
type progress struct {
	w        io.Writer
	tty      bool
	mu       sync.Mutex
	phase    string
	total    int64
	lastPct  int
	lastDraw time.Time
	start    time.Time
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, start: time.Now(), lastPct: -1}
}

// Phase starts a new phase; total is its size in bytes, or -1 if unknown.
func (p *progress) Phase(name string, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name == p.phase { // the size became known
		p.total = total
		return
	}
	if p.tty && p.phase != "" {
		fmt.Fprintln(p.w)
	}
	p.phase, p.total, p.lastPct = name, total, -1
	if !p.tty {
		fmt.Fprintf(p.w, "%s…\n", name)
	} else {
		fmt.Fprintf(p.w, "\r%s…", name)
	}
}

// Bytes reports the bytes done in the current phase.
func (p *progress) Bytes(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pct := -1
	if p.total > 0 {
		pct = int(n * 100 / p.total)
	}
	if p.tty {
		if time.Since(p.lastDraw) < 100*time.Millisecond && pct != 100 {
			return
		}
		p.lastDraw = time.Now()
		if pct >= 0 {
			const width = 30
			bar := int(pct * width / 100)
			fmt.Fprintf(p.w, "\r%s [%-*s] %3d%% %s / %s ", p.phase, width, strings.Repeat("#", bar), pct,
				humanize.Bytes(uint64(n)), humanize.Bytes(uint64(p.total)))
		} else {
			fmt.Fprintf(p.w, "\r%s %s ", p.phase, humanize.Bytes(uint64(n)))
		}
		return
	}
	if pct >= 0 && pct/10 > p.lastPct/10 {
		p.lastPct = pct
		fmt.Fprintf(p.w, "%s: %d%% (%s)\n", p.phase, pct, humanize.Bytes(uint64(n)))
	}
}

// Done ends the report with a summary line.
func (p *progress) Done(summary string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprintln(p.w)
	}
	fmt.Fprintf(p.w, "%s (%s)\n", summary, time.Since(p.start).Round(time.Millisecond))
}
