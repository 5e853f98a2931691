// Command csvapi serves tabular files from the web as a JSON API.
//
//	csvapi [serve] [flags]          start the HTTP service (default)
//	csvapi convert [flags] SRC OUT  convert a URL or local file to .duckdb, .parquet or .csv
//	csvapi mcp [--endpoint URL | flags]  serve MCP over stdio (AI assistants)
//	csvapi --version                print the version and the DuckDB version
//
// Every flag of serve has an environment twin: --max-file-size is
// CSVAPI_MAX_FILE_SIZE. A flag on the command line wins.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/csvapi/csvapi/convert"
)

// workerCommand is the hidden subcommand that runs one conversion for
// serve, in a child process.
const workerCommand = "convert-worker"

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, errHelp) {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "csvapi:", err)
		}
		os.Exit(2)
	}
}

// errUsage means the usage was already printed after a mistake; errHelp
// that it was printed because it was asked for (exit status 0).
var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help")
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		switch args[0] {
		case "serve", "convert":
			cmd, args = args[0], args[1:]
		case "version", "--version", "-version":
			return printVersion(ctx, stdout)
		case "mcp":
			return runMCP(ctx, args[1:], os.Stdin, stdout, stderr)
		case workerCommand:
			// Hidden: one conversion in a child process (see convert.Worker).
			return convert.ServeWorker(ctx, os.Stdin, stdout)
		}
	}
	if cmd == "convert" {
		return runConvert(ctx, args, stdout, stderr)
	}
	m := NewMain()
	if err := m.ParseFlags(args, os.LookupEnv, stderr); err != nil {
		return err
	}
	if m.showVersion {
		return printVersion(ctx, stdout)
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return m.Close()
}
