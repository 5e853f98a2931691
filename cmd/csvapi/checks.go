package main

import (
	"context"
	"log/slog"
	"path/filepath"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/linkcheck"
	"github.com/csvapi/csvapi/server"
	"github.com/csvapi/csvapi/store"
)

// linkChecks is the running link checker of --checks.
type linkChecks struct {
	store   *linkcheck.Store
	service *linkcheck.Service
}

// startLinkChecks opens the link checker's store in <cache-dir>/checks and
// starts its workers. Checks and webhooks go through fetcher's transport:
// the same guard, ports and host allowlist as downloads. With --store, the
// replicas share their checks through it (one replica checks each URL),
// with the loads' lease lifetime, interval and replica name.
func startLinkChecks(c Config, fetcher *convert.Fetcher, remote *store.S3, logger *slog.Logger) (*linkChecks, error) {
	store, err := linkcheck.OpenStore(filepath.Join(c.CacheDir, "checks"))
	if err != nil {
		return nil, err
	}
	svc := linkcheck.NewService(&linkcheck.Checker{Fetcher: fetcher}, store, logger)
	if remote != nil {
		svc.Remote, svc.LeaseTTL, svc.SyncInterval, svc.Replica = remote, c.Store.Lease, c.Store.Check, c.Store.Replica
	}
	svc.Start(context.Background())
	logger.Info("link checker on", "token", c.ChecksToken != "", "shared", c.Store.URL != "")
	return &linkChecks{store: store, service: svc}, nil
}

func (l *linkChecks) config(c Config) server.ChecksConfig {
	return server.ChecksConfig{Service: l.service, Token: c.ChecksToken}
}

func (l *linkChecks) close() {
	l.service.Close()
	l.store.Close()
}
