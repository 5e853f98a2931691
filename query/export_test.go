package query

import (
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestExport(t *testing.T) {
	db, tbl := fixtureTable(t)
	tests := []struct {
		name     string
		r        Request
		want     string
		wantRows int64
	}{
		{
			name: "filtered sorted without rowid",
			r: Request{Limit: -1, HideRowID: true, Sort: []Sort{{Column: "day", Desc: true}},
				Filters: []Filter{{Column: "price", Op: OpGreater, Value: "0"}}},
			want: "id,price,amount,ok,day,ts,hour,name,code\n" +
				"4,12.5,0.1,true,2024-02-29,2024-02-29T23:59:59,23:59:59,a_b,\"12,5\"\n" +
				"1,12.5,1.5,true,2024-01-31,2024-01-31T10:00:00,10:00:00,Alice,00012\n" +
				"2,3,2,false,2023-12-01,2023-12-01T08:30:00.5,08:30:00,bob 100%,7\n",
			wantRows: 3,
		},
		{
			name: "nulls and rowid",
			r:    Request{Limit: 1, Offset: 2},
			want: "rowid,id,price,amount,ok,day,ts,hour,name,code\n" +
				"3,3,,,,,,,,\n",
			wantRows: 1,
		},
		{
			name:     "nothing matches",
			r:        Request{Limit: -1, HideRowID: true, Filters: []Filter{{Column: "name", Op: OpExact, Value: "nobody"}}},
			want:     "id,price,amount,ok,day,ts,hour,name,code\n",
			wantRows: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sb strings.Builder
			n, err := Export(context.Background(), db, tbl, tt.r, &sb, ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sb.String() != tt.want {
				t.Errorf("CSV =\n%s\nwant\n%s", sb.String(), tt.want)
			}
			if n != tt.wantRows {
				t.Errorf("rows = %d, want %d", n, tt.wantRows)
			}
		})
	}
}

func TestExportRoundTrip(t *testing.T) {
	tricky := "a,b \"quoted\"\nnext line;é"
	db := openDB(t, "CREATE TABLE data AS SELECT * FROM (VALUES (1, 'plain'), (2, $$"+tricky+"$$)) v(\"n\", \"the text\")")
	tbl := describe(t, db, "data")
	var sb strings.Builder
	if _, err := Export(context.Background(), db, tbl, Request{Limit: -1}, &sb, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(strings.NewReader(sb.String())).ReadAll()
	if err != nil {
		t.Fatalf("reading the export back: %v\n%s", err, sb.String())
	}
	want := [][]string{{"rowid", "n", "the text"}, {"1", "1", "plain"}, {"2", "2", tricky}}
	if !slices.EqualFunc(records, want, slices.Equal) {
		t.Errorf("records = %q, want %q", records, want)
	}
}

func TestExportErrors(t *testing.T) {
	db := openDB(t, "CREATE TABLE data AS SELECT range AS n, 'row ' || range AS s FROM range(50000)")
	tbl := describe(t, db, "data")

	var sb strings.Builder
	_, err := Export(context.Background(), db, tbl, Request{Limit: -1, Filters: []Filter{{Column: "n", Op: OpExact, Value: "x"}}}, &sb, ExportOptions{})
	if !errors.Is(err, ErrInvalid) || sb.Len() != 0 {
		t.Errorf("invalid request: error = %v, %d bytes written; want ErrInvalid and nothing written", err, sb.Len())
	}

	errFull := errors.New("disk full")
	w := &failingWriter{after: 100 << 10, err: errFull}
	n, err := Export(context.Background(), db, tbl, Request{Limit: -1}, w, ExportOptions{})
	if !errors.Is(err, errFull) {
		t.Errorf("write error: error = %v, want %v", err, errFull)
	}
	if n == 0 || n >= 50000 {
		t.Errorf("write error: %d rows written, want it to stop part way", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cw := &cancelWriter{after: 100 << 10, cancel: cancel}
	n, err = Export(ctx, db, tbl, Request{Limit: -1}, cw, ExportOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error = %v, want context.Canceled", err)
	}
	if n >= 50000 {
		t.Errorf("cancelled: %d rows written, want it to stop part way", n)
	}
}

// failingWriter fails with err once more than after bytes are written.
type failingWriter struct {
	after, n int
	err      error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.after {
		return 0, w.err
	}
	w.n += len(p)
	return len(p), nil
}

// cancelWriter cancels its context once more than after bytes are written.
type cancelWriter struct {
	after, n int
	cancel   context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n > w.after {
		w.cancel()
	}
	return len(p), nil
}
