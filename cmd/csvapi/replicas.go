package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/store"
)

// StoreConfig is the shared object store of replicas (--store…). The
// credentials never come from flags: the AWS_* variables, or the file of
// --store-credentials.
type StoreConfig struct {
	URL         string        `flag:"store" usage:"s3://bucket/prefix of S3-compatible storage shared by replicas (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --store-credentials)"` // s3://bucket/prefix; "": no store
	Endpoint    string        `flag:"store-endpoint" usage:"URL of the S3-compatible server, e.g. http://minio:9000 (default: AWS S3)"`
	Region      string        `flag:"store-region" usage:"region of the bucket (default: AWS_REGION, else the server's)"`
	PathStyle   bool          `flag:"store-path-style" usage:"address the bucket in the path rather than the host name (MinIO and most self-hosted servers)"`
	Credentials string        `flag:"store-credentials" usage:"AWS shared credentials file (default: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)"`
	Check       time.Duration `flag:"store-check" usage:"interval at which a replica re-checks the manifests of the resources it serves and refreshes its copy of shared link checks (purges, new versions and checks propagate within it)"`
	Lease       time.Duration `flag:"store-lease" usage:"lifetime of the lease of a load or a link check, renewed by its holder; a crashed holder's work is taken over after it"`
	Replica     string        `flag:"store-replica" usage:"name of this replica in leases and /api/<id>/status (default: host name and process id)"`
}

func (s *StoreConfig) validate() error {
	if s.URL == "" {
		return nil
	}
	if _, _, err := store.ParseURL(s.URL); err != nil {
		return fmt.Errorf("--store: %w", err)
	}
	if s.Check <= 0 || s.Lease <= 0 {
		return errors.New("--store-check and --store-lease must be positive")
	}
	return nil
}

// share connects the cache to the store remote, when there is one.
func (s *StoreConfig) share(c *cache.Cache, remote *store.S3) {
	if remote != nil {
		c.Remote, c.CheckInterval, c.LeaseTTL, c.Replica = remote, s.Check, s.Lease, s.Replica
	}
}

// open returns the client of the store, nil without --store (s.URL is
// validated). The cache and the link checker share it.
func (s *StoreConfig) open() (*store.S3, error) {
	if s.URL == "" {
		return nil, nil
	}
	bucket, prefix, _ := store.ParseURL(s.URL) // validated
	region := s.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	return store.New(store.Config{
		Bucket: bucket, Prefix: prefix, Endpoint: s.Endpoint, Region: region,
		PathStyle: s.PathStyle, CredentialsFile: s.Credentials,
	})
}
