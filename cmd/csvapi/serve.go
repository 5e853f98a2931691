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
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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
	DefaultCacheSize       = 20 << 30
)

// Config is the validated configuration of `csvapi serve`.
type Config struct {
	Addr          string        `flag:"addr" usage:"address to listen on"`
	CacheDir      string        `flag:"cache-dir" usage:"directory of converted resources (one .duckdb file each)"`
	MaxFileSize   int64         `flag:"max-file-size" usage:"largest file downloaded or decompressed"`
	MaxUploadSize int64         `flag:"max-upload-size" usage:"largest file accepted by POST /upload"`
	QueryTimeout  time.Duration `flag:"query-timeout" usage:"time limit of one query; DuckDB is interrupted past it"`
	LoadTimeout   time.Duration `flag:"load-timeout" usage:"time limit of one download plus conversion"`
	MaxPageSize   int           `flag:"max-page-size" usage:"largest _size"`
	MaxGroups     int           `flag:"max-groups" usage:"most groups an /aggregate query may produce"`
	MemoryLimit   string        `flag:"memory-limit" usage:"DuckDB memory limit, e.g. 4GB (default: DuckDB's, 80% of RAM); loads spill to disk past it"`
	LoadMemory    int64         `flag:"load-memory-limit" usage:"resident memory above which a conversion process is killed (its DuckDB gets 3/4 of it; default: --memory-limit, or 2GiB)"`
	Threads       int           `flag:"threads" usage:"DuckDB threads (default: number of cores)"`
	AllowPrivate  bool          `flag:"allow-private" usage:"let resource URLs reach loopback and private addresses (for local tests only)"`
	Referrers     []string      `flag:"referrers" usage:"comma-separated hosts; when set, only requests whose Referer is one of them or a subdomain are served"`
	BaseURL       string        `flag:"base-url" usage:"public base URL used in endpoints, e.g. https://csvapi.example.org (default: from the request)"`
	CORSOrigins   string        `flag:"cors-origins" usage:"comma-separated origins allowed by CORS"`
	LogFormat     string        `flag:"log-format" usage:"text or json"`
	LogLevel      slog.Level    `flag:"log-level" usage:"debug, info, warn or error"`
	CacheSize     int64         `flag:"cache-size" usage:"disk budget of the converted files; least recently used resources are evicted past it"`
	MaxEntries    int           `flag:"max-entries" usage:"most resources kept in the cache (0: no limit)"`
	MaxAttached   int           `flag:"max-attached" usage:"most DuckDB files attached at once"`
	TTL           time.Duration `flag:"ttl" usage:"age after which an access revalidates a resource with its upstream (0: never)"`
	FailureTTL    time.Duration `flag:"failure-ttl" usage:"how long a failed load is remembered before the URL is tried again"`
	MaxLoads      int           `flag:"max-loads" usage:"most conversions at once; the others wait in a queue"`
	ApifyWait     time.Duration `flag:"apify-wait" usage:"how long /apify waits for a conversion before answering 202 with a status URL"`
	AdminToken    string        `flag:"admin-token" usage:"bearer token of the admin routes (GET /cache, DELETE /api/<id>); empty: no admin routes. Prefer CSVAPI_ADMIN_TOKEN or --admin-token-file: flags show in ps"`
	AllowedPorts  []int         `flag:"allowed-ports" usage:"comma-separated ports resource URLs may use (not enforced with --allow-private)"`
	AllowedHosts  []string      `flag:"allowed-hosts" usage:"comma-separated hosts; when set, resource URLs must point to one of them or a subdomain"`
	Proxy         *url.URL      `flag:"proxy" usage:"HTTP proxy for downloads (environment proxies are never used); the proxy must enforce the egress policy"`
	FetchTimeout  time.Duration `flag:"fetch-timeout" usage:"time limit of one download"`
	MaxColumns    int           `flag:"max-columns" usage:"most columns in a table"`
	MaxQueries    int           `flag:"max-queries" usage:"most queries and exports running at once; others wait up to --query-timeout, then 503"`
	RateLimit     int           `flag:"rate-limit" usage:"requests per minute per client address (0: no limit); 429 with Retry-After past it"`
	ProxyHeader   string        `flag:"proxy-header" usage:"header carrying the client address behind a reverse proxy, e.g. X-Forwarded-For (trust it only behind one)"`
	MaxHeaderSize int64         `flag:"max-header-size" usage:"largest request header block"`
	ReadTimeout   time.Duration `flag:"read-timeout" usage:"time limit to read a request, against slow clients"`
	WriteTimeout  time.Duration `flag:"write-timeout" usage:"time limit to write a response, exports included (an export's query is stopped past it)"`
	IdleTimeout   time.Duration `flag:"idle-timeout" usage:"how long an idle keep-alive connection is kept"`
	MinFreeDisk   int64         `flag:"min-free-disk" usage:"free space on the cache disk below which /ready fails and loads are refused"`
	ResponseCache int64         `flag:"response-cache-size" usage:"memory for rendered answers of repeated queries (served with ETag and 304)"`
	ProfileAfter  bool          `flag:"profile-after-load" usage:"compute each loaded table's profile in the background, only while no query runs (a query needing its slot stops it), so that its first /profile is served at once (kept beside the table)"`
	Store         StoreConfig   // replicas sharing converted tables (replicas.go)

	AdminTokenFile string `flag:"admin-token-file" usage:"file holding the admin token (surrounding white space ignored); exclusive with --admin-token"`
	// Limits against slow or greedy clients and upstreams.
	ExportStallTimeout time.Duration `flag:"export-stall-timeout" usage:"an export whose client takes no bytes for this long is cut, freeing its slot"`
	MaxQueuedLoads     int           `flag:"max-queued-loads" usage:"most conversions waiting for a slot; past it new ones get 503 busy with Retry-After"`
	MaxClientLoads     int           `flag:"max-client-loads" usage:"most conversions one client address may have queued or running; past it 429 too_many_loads"`
	MinDownloadRate    int64         `flag:"min-download-rate" usage:"slowest download accepted, in bytes a second averaged over --download-rate-window; slower ones are cut (504 upstream_too_slow)"`
	DownloadRateWindow time.Duration `flag:"download-rate-window" usage:"span over which --min-download-rate is measured"`
	// ResourceURLTemplate resolves portal resource ids on the api-tabular
	// routes, e.g. https://www.data.gouv.fr/fr/datasets/r/{id}.
	ResourceURLTemplate string `flag:"resource-url-template" usage:"URL of a portal resource whose {id} is the resource id of the api-tabular routes, e.g. https://www.data.gouv.fr/fr/datasets/r/{id}; converted on first access (empty: csvapi ids only)"`

	Checks      bool   `flag:"checks" usage:"serve the croquemort-compatible link checker (POST /check/one, /check/many, GET /url, /group)"`          // croquemort-compatible link checker routes
	ChecksToken string `flag:"checks-token" usage:"bearer token the link checker routes require (empty: none; the per-client caps apply either way)"` // bearer token of the link checker routes
}

// Main is the running service: configuration, then the opened resources.
type Main struct {
	Config      Config
	showVersion bool

	Logger   *slog.Logger
	DB       *sql.DB
	Cache    *cache.Cache
	Server   *server.Server
	worker   *convert.Worker // runs the conversions; keeps a spare process
	listener net.Listener
	done     chan error
	checks   *linkChecks // nil unless --checks
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
		CORSOrigins:   server.DefaultCORSOrigins,
		LogFormat:     "text",
		LogLevel:      slog.LevelInfo,
		CacheSize:     DefaultCacheSize,
		MaxAttached:   cache.DefaultMaxAttached,
		TTL:           cache.DefaultTTL,
		FailureTTL:    cache.DefaultFailureTTL,
		MaxLoads:      runtime.NumCPU(),
		ApifyWait:     server.DefaultApifyWait,
		AllowedPorts:  slices.Clone(convert.DefaultAllowedPorts),
		FetchTimeout:  convert.DefaultFetchTimeout,
		MaxColumns:    cache.DefaultMaxColumns,
		MaxQueries:    2 * runtime.NumCPU(),
		RateLimit:     server.DefaultRateLimit,
		MaxHeaderSize: server.DefaultMaxHeaderSize,
		ReadTimeout:   server.DefaultReadTimeout,
		WriteTimeout:  server.DefaultExportTimeout,
		IdleTimeout:   server.DefaultIdleTimeout,
		MinFreeDisk:   server.DefaultMinFreeDisk,
		ResponseCache: server.DefaultResponseCacheSize,
		ProfileAfter:  true,
		Store:         StoreConfig{Check: cache.DefaultCheckInterval, Lease: cache.DefaultLeaseTTL},

		ExportStallTimeout: server.DefaultExportStallTimeout,
		MaxQueuedLoads:     cache.DefaultMaxQueue,
		MaxClientLoads:     cache.DefaultMaxClientLoads,
		MinDownloadRate:    convert.DefaultMinRate,
		DownloadRateWindow: convert.DefaultRateWindow,
	}}
}

// ParseFlags reads args, then fills every flag not given on the command line
// from its CSVAPI_* environment twin, then validates.
func (m *Main) ParseFlags(args []string, getenv func(string) (string, bool), stderr io.Writer) error {
	c := &m.Config
	fs := flag.NewFlagSet("csvapi serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bindFlags(fs, c)
	fs.BoolVar(&m.showVersion, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: csvapi [serve] [flags]\n\nEvery flag has an environment twin: --max-file-size is CSVAPI_MAX_FILE_SIZE; a flag given on the command line wins.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
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
	case c.ResourceURLTemplate != "" && !validTemplate(c.ResourceURLTemplate):
		return errors.New("--resource-url-template must be an http(s) URL holding {id}")
	case c.Threads < 0:
		return errors.New("--threads must not be negative")
	case c.MaxEntries < 0, c.MaxAttached <= 0, c.MaxLoads <= 0:
		return errors.New("--max-entries must not be negative, --max-attached and --max-loads must be positive")
	case c.TTL < 0, c.FailureTTL <= 0, c.ApifyWait <= 0:
		return errors.New("--ttl must not be negative, --failure-ttl and --apify-wait must be positive")
	case c.MaxColumns <= 0, c.MaxQueries <= 0, c.RateLimit < 0, c.FetchTimeout <= 0:
		return errors.New("--max-columns, --max-queries and --fetch-timeout must be positive, --rate-limit not negative")
	case c.ReadTimeout <= 0, c.WriteTimeout <= 0, c.IdleTimeout <= 0, c.ExportStallTimeout <= 0:
		return errors.New("--read-timeout, --write-timeout, --idle-timeout and --export-stall-timeout must be positive")
	case c.MaxQueuedLoads <= 0, c.MaxClientLoads <= 0, c.DownloadRateWindow <= 0:
		return errors.New("--max-queued-loads, --max-client-loads and --download-rate-window must be positive")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("--log-format must be text or json, not %q", c.LogFormat)
	}
	if c.MemoryLimit != "" {
		if _, err := humanize.ParseBytes(c.MemoryLimit); err != nil {
			return fmt.Errorf("--memory-limit: invalid size %q", c.MemoryLimit)
		}
	}
	if err := c.Store.validate(); err != nil {
		return err
	}
	if err := c.readAdminToken(); err != nil {
		return err
	}
	return nil
}

// readAdminToken takes the admin token from --admin-token-file, so that it
// never shows in the process list (CSVAPI_ADMIN_TOKEN does not either).
func (c *Config) readAdminToken() error {
	if c.AdminTokenFile == "" {
		return nil
	}
	if c.AdminToken != "" {
		return errors.New("--admin-token and --admin-token-file are exclusive")
	}
	b, err := os.ReadFile(c.AdminTokenFile)
	if err != nil {
		return fmt.Errorf("--admin-token-file: %w", err)
	}
	if c.AdminToken = strings.TrimSpace(string(b)); c.AdminToken == "" {
		return fmt.Errorf("--admin-token-file: %s is empty", c.AdminTokenFile)
	}
	return nil
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
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
	// DuckDB may touch the cache directory only.
	dbConfig := convert.DBConfig{MemoryLimit: c.MemoryLimit, Threads: c.Threads, TempDir: spill, Sandbox: c.CacheDir}
	db, err := convert.OpenDB(dbConfig)
	if err != nil {
		return err
	}
	m.DB = db
	fetcher := &convert.Fetcher{
		MaxSize: c.MaxFileSize, AllowPrivate: c.AllowPrivate, Timeout: c.FetchTimeout,
		AllowedPorts: c.AllowedPorts, AllowedHosts: c.AllowedHosts, Proxy: c.Proxy,
		MinRate: c.MinDownloadRate, RateWindow: c.DownloadRateWindow,
	}
	if c.Proxy != nil {
		m.Logger.Warn("downloads go through a proxy: the address guard only checks URLs", "proxy", c.Proxy.Redacted())
	}
	store, err := cache.New(c.CacheDir, db, fetcher, m.Logger)
	if err != nil {
		return err
	}
	store.LoadTimeout = c.LoadTimeout
	store.MaxBytes, store.MaxEntries, store.MaxAttached = c.CacheSize, c.MaxEntries, c.MaxAttached
	store.TTL, store.FailureTTL, store.MaxLoads = c.TTL, c.FailureTTL, c.MaxLoads // TTL 0: never, in both
	store.MaxColumns = c.MaxColumns
	store.MaxQueue, store.MaxClientLoads, store.MinFreeDisk = c.MaxQueuedLoads, c.MaxClientLoads, c.MinFreeDisk
	store.Reopen = func() (*sql.DB, error) { return convert.OpenDB(dbConfig) }
	if m.worker, err = m.newWorker(); err != nil {
		return err
	}
	store.Converter = m.worker
	remote, err := c.Store.open() // nil without --store
	if err != nil {
		return err
	}
	c.Store.share(store, remote)
	m.Cache = store
	store.Start()
	var checks server.ChecksConfig
	if c.Checks {
		if m.checks, err = startLinkChecks(c, fetcher, remote, m.Logger); err != nil {
			return err
		}
		checks = m.checks.config(c)
	}
	m.Server = server.New(server.Config{
		BaseURL:           c.BaseURL,
		CORSOrigins:       c.CORSOrigins,
		Referrers:         c.Referrers,
		QueryTimeout:      c.QueryTimeout,
		MaxPageSize:       c.MaxPageSize,
		MaxUploadSize:     c.MaxUploadSize,
		ApifyWait:         c.ApifyWait,
		AdminToken:        c.AdminToken,
		MaxQueries:        c.MaxQueries,
		RateLimit:         c.RateLimit,
		ProxyHeader:       c.ProxyHeader,
		MaxHeaderSize:     int(c.MaxHeaderSize),
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MinFreeDisk:       c.MinFreeDisk,
		CacheDir:          c.CacheDir,
		Version:           version,
		ResponseCacheSize: int(c.ResponseCache),
		ProfileAfterLoad:  c.ProfileAfter,
		MaxGroups:         c.MaxGroups,
		ExportDir:         filepath.Join(c.CacheDir, "tmp"),

		ExportTimeout:       c.WriteTimeout, // --write-timeout covers exports
		ExportStallTimeout:  c.ExportStallTimeout,
		ResourceURLTemplate: c.ResourceURLTemplate,
		Checks:              checks,
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

// worker returns the Converter that runs each load in a child process:
// this binary's hidden conversion subcommand.
func (m *Main) newWorker() (*convert.Worker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the csvapi binary for conversion workers: %w", err)
	}
	c := m.Config
	limit := c.LoadMemory
	if limit == 0 && c.MemoryLimit != "" {
		n, _ := humanize.ParseBytes(c.MemoryLimit) // validated
		limit = int64(n)
	}
	return &convert.Worker{
		Command: []string{exe, workerCommand}, MemoryLimit: limit, Threads: c.Threads,
		Sandbox: c.CacheDir, Logger: m.Logger, Spare: true,
		OnExit: func(peak int64, killed string) {
			m.Logger.Debug("conversion worker exited", "peak_rss", peak, "killed", killed)
		},
	}, nil
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
	if m.checks != nil {
		m.checks.close()
	}
	if m.Cache != nil {
		m.Cache.Close() // cancels loads: no partial files are left
	}
	if m.worker != nil {
		m.worker.Close()
	}
	if m.Cache != nil {
		m.DB = m.Cache.ServingDB() // Heal may have replaced the first one
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

// validTemplate reports whether t is an http(s) URL holding {id}.
func validTemplate(t string) bool {
	u, err := url.Parse(strings.ReplaceAll(t, "{id}", "x"))
	return err == nil && strings.Contains(t, "{id}") && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
