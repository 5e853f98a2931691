package server

import (
	"context"
	"log/slog"
)

// accessLogQueue is how many access lines may wait for their writer
// before requests wait for it too.
const accessLogQueue = 4096

// accessLines writes the access lines on a goroutine of its own. Written
// by the requests themselves, each line was one write under the log
// handler's lock, on which 32 connections to a cached page spent half of
// their waiting (mutex profile of BenchmarkCachedPageCeiling/defaults):
// requests now only queue a record. Lines keep their order, and a full
// queue makes requests wait rather than lose lines.
type accessLines struct {
	h slog.Handler
	q chan accessLine
}

// accessLine is a record to write, or a flush request (done set).
type accessLine struct {
	r    slog.Record
	done chan struct{}
}

func newAccessLines(h slog.Handler) *accessLines {
	a := &accessLines{h: h, q: make(chan accessLine, accessLogQueue)}
	go a.run()
	return a
}

// run writes the queued lines; it lives as long as the process, so that a
// request finishing after Shutdown still has its line written.
func (a *accessLines) run() {
	for l := range a.q {
		if l.done != nil {
			close(l.done)
			continue
		}
		_ = a.h.Handle(context.Background(), l.r) // as Logger does: a line that cannot be written is not the client's error
	}
}

// log queues r. Its attributes must not refer to memory that fasthttp
// reuses after the request (copy the strings from the request first).
func (a *accessLines) log(r slog.Record) { a.q <- accessLine{r: r} }

// flush returns once the lines queued before it are written, or when ctx
// is done.
func (a *accessLines) flush(ctx context.Context) {
	done := make(chan struct{})
	select {
	case a.q <- accessLine{done: done}:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}
