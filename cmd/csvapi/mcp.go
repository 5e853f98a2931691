package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/csvapi/csvapi/assistant"
)

// DefaultMCPAddr is where csvapi mcp serves the HTTP API its export links
// point to: any free loopback port, so that it never collides with a
// running csvapi serve.
const DefaultMCPAddr = "127.0.0.1:0"

// runMCP serves MCP over stdin and stdout (csvapi mcp), for desktop
// clients that start csvapi themselves. With --endpoint URL, every call is
// forwarded to that csvapi's /mcp; otherwise csvapi runs here with the
// flags of serve (cache directory, limits), also serving its HTTP API on
// --addr so that export links work. Logs go to stderr: stdout carries the
// protocol.
func runMCP(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	endpoint, rest, err := endpointFlag(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return errUsage
	}
	transport := &mcp.IOTransport{Reader: io.NopCloser(stdin), Writer: nopWriteCloser{stdout}}
	if endpoint != "" {
		if len(rest) > 0 {
			fmt.Fprintf(stderr, "csvapi mcp --endpoint takes no other flag, got %q\n", rest[0])
			return errUsage
		}
		srv, cs, err := assistant.Remote(ctx, endpoint, http.DefaultClient, version)
		if err != nil {
			return err
		}
		defer cs.Close()
		return ignoreClosed(srv.Run(ctx, transport))
	}
	if slices.ContainsFunc(rest, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
		fmt.Fprint(stderr, "Usage: csvapi mcp --endpoint URL    forward to the /mcp of a remote csvapi\n"+
			"       csvapi mcp [flags]           run csvapi here; the flags are serve's, below\n"+
			"MCP goes over stdin and stdout; logs go to stderr.\n\n")
	}
	m := NewMain()
	m.Config.Addr = DefaultMCPAddr
	if dir, err := os.UserCacheDir(); err == nil {
		// Desktop clients start servers in a directory of their choosing
		// (often /): ./data would land anywhere, or nowhere writable.
		m.Config.CacheDir = filepath.Join(dir, "csvapi")
	}
	if err := m.ParseFlags(rest, os.LookupEnv, stderr); err != nil {
		return err
	}
	m.Logger = newLogger(m.Config, stderr)
	if err := m.Run(ctx); err != nil {
		return err
	}
	defer m.Close()
	a := m.Server.Assistant()
	if m.Config.BaseURL == "" {
		a.SetBaseURL("http://" + m.Addr())
	}
	return ignoreClosed(a.Server().Run(ctx, transport))
}

// endpointFlag takes --endpoint out of args (the other flags are serve's).
func endpointFlag(args []string) (endpoint string, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "endpoint" {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 == len(args) {
				return "", nil, errors.New("--endpoint needs the base URL of a csvapi, e.g. https://csvapi.example.org")
			}
			i++
			value = args[i]
		}
		if !strings.HasPrefix(value, "http://") && !strings.HasPrefix(value, "https://") {
			return "", nil, fmt.Errorf("--endpoint must be an http(s) URL, not %q", value)
		}
		endpoint = value
	}
	return endpoint, rest, nil
}

// ignoreClosed treats the client closing stdin as a normal end.
func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
