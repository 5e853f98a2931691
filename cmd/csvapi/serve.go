package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/server"
)

// Defaults of the serve flags that no package owns.
const (
	DefaultAddr            = "127.0.0.1:8001"
	DefaultCacheDir        = "./data"
	DefaultShutdownTimeout = 30 * time.Second
)

// Config is the validated configuration of `csvapi serve`.
type Config struct {
	Addr          string
	CacheDir      string
	MaxFileSize   int64
	MaxUploadSize int64
	QueryTimeout  time.Duration
	LoadTimeout   time.Duration
	MaxPageSize   int
	MaxGroups     int
	MemoryLimit   string
	Threads       int
	AllowPrivate  bool
	Referrers     []string
	BaseURL       string
	CORSOrigins   string
	LogFormat     string
	LogLevel      string
}

// Main is the running service: configuration, then the opened resources.
type Main struct {
	Config      Config
	showVersion bool

	Logger   *slog.Logger
	DB       *sql.DB
	Server   *server.Server
	listener net.Listener
	done     chan error
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{Config: Config{
		Addr:          DefaultAddr,
		CacheDir:      DefaultCacheDir,
		MaxFileSize:   convert.DefaultMaxFileSize,
		MaxUploadSize: server.DefaultMaxUploadSize,
		QueryTimeout:  server.DefaultQueryTimeout,
		LoadTimeout:   cache.DefaultLoadTimeout,
		MaxPageSize:   server.DefaultMaxPageSize,
		MaxGroups:     server.DefaultMaxGroups,
		CORSOrigins:   "*",
		LogFormat:     "text",
		LogLevel:      "info",
	}}
}

// byteSize is a flag.Value for sizes such as 500MB or 1GiB.
type byteSize struct{ n *int64 }

func (b byteSize) String() string {
	if b.n == nil {
		return ""
	}
	return humanize.Bytes(uint64(*b.n))
}

func (b byteSize) Set(s string) error {
	n, err := humanize.ParseBytes(s)
	if err != nil || n == 0 || n > 1<<50 {
		return fmt.Errorf("invalid size %q (examples: 500MB, 2GiB)", s)
	}
	*b.n = int64(n)
	return nil
}

// listValue is a flag.Value for comma-separated lists.
type listValue struct{ l *[]string }

func (v listValue) String() string {
	if v.l == nil {
		return ""
	}
	return strings.Join(*v.l, ",")
}

func (v listValue) Set(s string) error {
	*v.l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.ToLower(strings.TrimSpace(part)); part != "" {
			*v.l = append(*v.l, part)
		}
	}
	return nil
}

// ParseFlags reads args, then fills every flag not given on the command line
// from its CSVAPI_* environment twin, then validates.
func (m *Main) ParseFlags(args []string, getenv func(string) (string, bool), stderr io.Writer) error {
	c := &m.Config
	fs := flag.NewFlagSet("csvapi serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", c.Addr, "address to listen on")
	fs.StringVar(&c.CacheDir, "cache-dir", c.CacheDir, "directory of converted resources (one .duckdb file each)")
	fs.Var(byteSize{&c.MaxFileSize}, "max-file-size", "largest file downloaded or decompressed")
	fs.Var(byteSize{&c.MaxUploadSize}, "max-upload-size", "largest file accepted by POST /upload")
	fs.DurationVar(&c.QueryTimeout, "query-timeout", c.QueryTimeout, "time limit of one query; DuckDB is interrupted past it")
	fs.DurationVar(&c.LoadTimeout, "load-timeout", c.LoadTimeout, "time limit of one download plus conversion")
	fs.IntVar(&c.MaxPageSize, "max-page-size", c.MaxPageSize, "largest _size")
	fs.IntVar(&c.MaxGroups, "max-groups", c.MaxGroups, "most groups an /aggregate query may produce")
	fs.StringVar(&c.MemoryLimit, "memory-limit", c.MemoryLimit, "DuckDB memory limit, e.g. 4GB (default: DuckDB's, 80% of RAM); loads spill to disk past it")
	fs.IntVar(&c.Threads, "threads", c.Threads, "DuckDB threads (default: number of cores)")
	fs.BoolVar(&c.AllowPrivate, "allow-private", c.AllowPrivate, "let resource URLs reach loopback and private addresses (for local tests only)")
	fs.Var(listValue{&c.Referrers}, "referrers", "comma-separated hosts; when set, only requests whose Referer is one of them or a subdomain are served")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "public base URL used in endpoints, e.g. https://csvapi.example.org (default: from the request)")
	fs.StringVar(&c.CORSOrigins, "cors-origins", c.CORSOrigins, "comma-separated origins allowed by CORS")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.BoolVar(&m.showVersion, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: csvapi [serve] [flags]\n\nEvery flag has an environment twin: --max-file-size is CSVAPI_MAX_FILE_SIZE; a flag given on the command line wins.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "CSVAPI_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := getenv(env); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s: %w", env, serr)
			}
		}
	})
	if err != nil {
		return err
	}
	return c.validate()
}

func (c *Config) validate() error {
	switch {
	case c.QueryTimeout <= 0:
		return errors.New("--query-timeout must be positive")
	case c.LoadTimeout <= 0:
		return errors.New("--load-timeout must be positive")
	case c.MaxPageSize <= 0:
		return errors.New("--max-page-size must be positive")
	case c.MaxGroups <= 0:
		return errors.New("--max-groups must be positive")
	case c.Threads < 0:
		return errors.New("--threads must not be negative")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	}
	if c.MemoryLimit != "" {
		if _, err := humanize.ParseBytes(c.MemoryLimit); err != nil {
			return fmt.Errorf("--memory-limit: invalid size %q", c.MemoryLimit)
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level must be debug, info, warn or error, not %q", c.LogLevel)
	}
	return nil
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel)) // validated
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run opens DuckDB and the cache and starts serving in the background.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	if m.Logger == nil {
		m.Logger = newLogger(c, os.Stderr)
	}
	if c.AllowPrivate {
		m.Logger.Warn("--allow-private is on: resource URLs may reach loopback and private networks")
	}
	if err := os.MkdirAll(c.CacheDir, 0o755); err != nil {
		return fmt.Errorf("cache dir: %w", err)
	}
	spill := filepath.Join(c.CacheDir, "tmp", "duckdb-spill")
	db, err := convert.OpenDB(convert.DBConfig{MemoryLimit: c.MemoryLimit, Threads: c.Threads, TempDir: spill})
	if err != nil {
		return err
	}
	m.DB = db
	fetcher := &convert.Fetcher{MaxSize: c.MaxFileSize, AllowPrivate: c.AllowPrivate}
	store, err := cache.New(c.CacheDir, db, fetcher, m.Logger)
	if err != nil {
		return err
	}
	store.LoadTimeout = c.LoadTimeout
	m.Server = server.New(server.Config{
		BaseURL:       c.BaseURL,
		CORSOrigins:   c.CORSOrigins,
		Referrers:     c.Referrers,
		QueryTimeout:  c.QueryTimeout,
		MaxPageSize:   c.MaxPageSize,
		MaxUploadSize: c.MaxUploadSize,
		MaxGroups:     c.MaxGroups,
		ExportDir:     filepath.Join(c.CacheDir, "tmp"),
	}, store, db, m.Logger)

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return err
	}
	m.listener = ln
	m.done = make(chan error, 1)
	go func() { m.done <- m.Server.Serve(ln) }()
	m.Logger.Info("serving", "addr", ln.Addr().String(), "cache_dir", c.CacheDir, "version", version)
	return nil
}

// Addr returns the address the service listens on (useful with port 0).
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Close stops serving, waiting for in-flight requests up to
// DefaultShutdownTimeout, then closes DuckDB.
func (m *Main) Close() error {
	var err error
	if m.Server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultShutdownTimeout)
		defer cancel()
		err = m.Server.Shutdown(ctx)
		<-m.done
	}
	if m.DB != nil {
		if cerr := m.DB.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

func printVersion(ctx context.Context, w io.Writer) error {
	db, err := convert.OpenDB(convert.DBConfig{})
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := convert.DuckDBVersion(ctx, db)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "csvapi %s (DuckDB %s)\n", version, v)
	return nil
}
