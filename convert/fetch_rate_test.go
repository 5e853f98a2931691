package convert_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// TestFetchMinRate: an upstream that sends 160 bytes, then stalls, is cut
// once a rate window has passed, well before the fetch timeout.
func TestFetchMinRate(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write(bytes.Repeat([]byte("x"), 160))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(safety):
		}
	})
	f := convert.Fetcher{AllowPrivate: true, RateWindow: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	var buf bytes.Buffer
	got, err := f.Fetch(ctx, srv.URL, &buf)
	if !errors.Is(err, convert.ErrTooSlow) {
		t.Fatalf("Fetch = %v, %v; want ErrTooSlow", got, err)
	}
	var fe *convert.FetchError
	if !errors.As(err, &fe) || fe.Status != 0 {
		t.Errorf("Fetch error = %#v, want a *FetchError without status", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Fetch error %v is a timeout, want a rate cut", err)
	}
	if buf.Len() != 160 {
		t.Errorf("wrote %d bytes, want the 160 received", buf.Len())
	}
}

// TestFetchMinRateSteady: a steady upstream faster than the minimum rate
// is not cut, over several windows.
func TestFetchMinRateSteady(t *testing.T) {
	chunk := bytes.Repeat([]byte("y"), 8<<10)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 50; i++ {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(20 * time.Millisecond)
		}
	})
	f := convert.Fetcher{AllowPrivate: true, MinRate: 1 << 10, RateWindow: 250 * time.Millisecond}
	got, err := f.Fetch(context.Background(), srv.URL, io.Discard)
	if err != nil || got.Size != 50*int64(len(chunk)) {
		t.Fatalf("Fetch = %+v, %v; want all %d bytes", got, err, 50*len(chunk))
	}
}
