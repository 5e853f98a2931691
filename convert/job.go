package convert

import (
	"context"
	"database/sql"
)

// Job is one conversion: a local file (downloaded or uploaded by the
// caller) into a resource database file. It is what crosses the boundary
// to a conversion worker process, so it holds plain values only.
type Job struct {
	Source  string         `json:"source"`   // the file to convert
	WorkDir string         `json:"work_dir"` // scratch space for intermediate files, removed by the caller
	Out     string         `json:"out"`      // the resource database file to build (renamed into place when complete)
	MaxSize int64          `json:"max_size"` // cap on any decompressed or converted content
	Prepare PrepareOptions `json:"prepare"`  // sheet, archive member, encoding
	Options Options        `json:"options"`  // parsing overrides and MaxColumns
	Meta    Meta           `json:"meta"`     // what the caller knows already: id, URL, validators, fetch time, size
}

// Converter runs conversion jobs. *Worker runs each in a child process;
// InProcess runs them in the calling process.
type Converter interface {
	// Convert builds job.Out from job.Source and returns the resource's
	// metadata. Its errors are those of Convert, plus ErrConversionFailed
	// when a worker process died or was killed.
	Convert(ctx context.Context, job Job) (*Meta, error)
}

// InProcess converts in the calling process with the DuckDB instance DB.
// Use it where the input is trusted (the offline `csvapi convert`) or in
// tests: a hostile file can crash or exhaust the process that runs it.
type InProcess struct{ DB *sql.DB }

var _ Converter = InProcess{}

// Convert implements Converter with the package-level Convert.
func (p InProcess) Convert(ctx context.Context, job Job) (*Meta, error) {
	return Convert(ctx, p.DB, job)
}

// Convert is the whole conversion pipeline after the download: Prepare
// (format, archives, spreadsheets, encoding), the cheap structural checks
// of formats DuckDB reads natively, then Load into job.Out. The returned
// Meta is job.Meta completed with what was detected.
//
// It returns the errors of Prepare and Load: ErrTooLarge, ErrNotTabular,
// ErrUnreadable, ErrTooManyColumns, ErrUnsupportedEncoding, *OptionError,
// *ChoiceError, and ctx's error when cancelled.
func Convert(ctx context.Context, db *sql.DB, job Job) (*Meta, error) {
	if err := job.Options.Validate(); err != nil {
		return nil, err
	}
	p, err := Prepare(ctx, job.Source, job.WorkDir, job.Prepare, job.MaxSize)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := job.Meta
	p.Apply(&m)
	if err := checkNative(ctx, db, p, job.Options.MaxColumns); err != nil {
		return nil, err
	}
	// Load checks job.Options.MaxColumns before it builds a table: from
	// the sniffed header of text, DESCRIBE of JSON; checkNative read a
	// Parquet footer's.
	if err := Load(ctx, db, p.Path, job.Out, job.Options, &m); err != nil {
		return nil, err
	}
	return &m, nil
}
