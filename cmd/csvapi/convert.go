package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// runConvert implements `csvapi convert SRC OUT`: the service's pipeline,
// offline. SRC is an http(s) URL or a local file; OUT's extension picks the
// format (.duckdb, .parquet or .csv).
func runConvert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("csvapi convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	enc := fs.String("encoding", "", "source encoding (default: detected)")
	sheet := fs.String("sheet", "", "spreadsheet sheet, by name or 1-based index (default: the first visible one)")
	member := fs.String("file", "", "member of a zip archive holding several tables")
	var size int64 = convert.DefaultMaxFileSize
	fs.Var(byteSize{&size}, "max-file-size", "largest file downloaded or decompressed")
	allowPrivate := fs.Bool("allow-private", false, "let the URL reach loopback and private addresses")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: csvapi convert [flags] SRC OUT\n\nSRC is an http(s) URL or a local file; OUT ends in .duckdb, .parquet or .csv.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil || fs.NArg() != 2 {
		if err == nil {
			fs.Usage()
		}
		return errUsage
	}
	src, out := fs.Arg(0), fs.Arg(1)
	format := strings.ToLower(filepath.Ext(out))
	if format != ".duckdb" && format != ".parquet" && format != ".csv" {
		return fmt.Errorf("OUT must end in .duckdb, .parquet or .csv, not %q", out)
	}

	work, err := os.MkdirTemp(filepath.Dir(out), ".csvapi-convert-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	prog := newProgress(stderr)
	meta := &convert.Meta{FetchedAt: time.Now().UTC()}
	raw := src
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		f, err := os.Create(filepath.Join(work, "download"))
		if err != nil {
			return err
		}
		fetcher := &convert.Fetcher{MaxSize: size, AllowPrivate: *allowPrivate}
		prog.Phase("downloading", -1)
		var got progressWriter
		got.report = prog.Bytes
		dl, err := fetcher.FetchWith(ctx, src, io.MultiWriter(f, &got), convert.FetchOptions{
			OnResponse: func(n int64) { prog.Phase("downloading", n) },
		})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		raw, meta.URL, meta.ETag, meta.LastModified, meta.SourceSize = f.Name(), src, dl.ETag, dl.LastModified, dl.Size
	} else {
		st, err := os.Stat(src)
		if err != nil {
			return err
		}
		meta.Filename, meta.SourceSize = filepath.Base(src), st.Size()
	}

	db, err := convert.OpenDB(convert.DBConfig{TempDir: filepath.Join(work, "spill")})
	if err != nil {
		return err
	}
	defer db.Close()
	dbPath := filepath.Join(work, "out.duckdb")
	prog.Phase("loading into DuckDB", -1)
	// In this process: the file is the user's own (or fetched for them),
	// and a crash costs only this command.
	meta, err = convert.Convert(ctx, db, convert.Job{
		Source: raw, WorkDir: work, Out: dbPath, MaxSize: size,
		Prepare: convert.PrepareOptions{Encoding: *enc, Sheet: *sheet, File: *member},
		Options: convert.Options{Encoding: *enc}, Meta: *meta,
	})
	if err != nil {
		return err
	}
	if format == ".duckdb" {
		err = os.Rename(dbPath, out)
	} else {
		err = copyOut(ctx, db, dbPath, out, format)
	}
	if err != nil {
		return err
	}
	prog.Done(fmt.Sprintf("%d rows loaded", meta.Rows))
	fmt.Fprintf(stdout, "%s: %d rows, %d columns, %s, separator %q (%s)\n", out, meta.Rows, len(meta.Columns), meta.Encoding, meta.Delimiter, meta.Filetype)
	return nil
}

// copyOut writes the loaded table to a Parquet or CSV file, under a
// temporary name first so OUT is never half written. The paths come from the
// command line of the person running it, not from the network.
func copyOut(ctx context.Context, db *sql.DB, dbPath, out, format string) error {
	if _, err := db.ExecContext(ctx, "ATTACH "+convert.QuoteLiteral(dbPath)+" AS src (READ_ONLY)"); err != nil {
		return err
	}
	defer db.ExecContext(context.WithoutCancel(ctx), "DETACH src")
	tmp := out + ".tmp"
	opts := "(FORMAT parquet, COMPRESSION zstd)"
	if format == ".csv" {
		opts = "(FORMAT csv, HEADER true)"
	}
	if _, err := db.ExecContext(ctx, "COPY src.data TO "+convert.QuoteLiteral(tmp)+" "+opts); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// progressWriter counts the bytes written through it.
type progressWriter struct {
	n      int64
	report func(int64)
}

func (w *progressWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	w.report(w.n)
	return len(b), nil
}
