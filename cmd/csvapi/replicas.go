package main

import (
	"errors"
	"flag"
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
	URL         string // s3://bucket/prefix; "": no store
	Endpoint    string
	Region      string
	PathStyle   bool
	Credentials string // AWS shared credentials file
	Check       time.Duration
	Lease       time.Duration
	Replica     string
}

func (s *StoreConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&s.URL, "store", s.URL, "s3://bucket/prefix of S3-compatible storage shared by replicas (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --store-credentials)")
	fs.StringVar(&s.Endpoint, "store-endpoint", s.Endpoint, "URL of the S3-compatible server, e.g. http://minio:9000 (default: AWS S3)")
	fs.StringVar(&s.Region, "store-region", s.Region, "region of the bucket (default: AWS_REGION, else the server's)")
	fs.BoolVar(&s.PathStyle, "store-path-style", s.PathStyle, "address the bucket in the path rather than the host name (MinIO and most self-hosted servers)")
	fs.StringVar(&s.Credentials, "store-credentials", s.Credentials, "AWS shared credentials file (default: AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials)")
	fs.DurationVar(&s.Check, "store-check", s.Check, "interval at which a replica re-checks the manifests of the resources it serves (purges and new versions propagate within it)")
	fs.DurationVar(&s.Lease, "store-lease", s.Lease, "lifetime of a load's lease, renewed by its holder; a crashed holder's load is taken over after it")
	fs.StringVar(&s.Replica, "store-replica", s.Replica, "name of this replica in leases and /api/<id>/status (default: host name and process id)")
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

// share connects the cache to the store, when there is one.
func (s *StoreConfig) share(c *cache.Cache) error {
	if s.URL == "" {
		return nil
	}
	bucket, prefix, _ := store.ParseURL(s.URL) // validated
	region := s.Region
	if region == "" {
		region = os.Getenv("AWS_REGION")
	}
	st, err := store.New(store.Config{
		Bucket: bucket, Prefix: prefix, Endpoint: s.Endpoint, Region: region,
		PathStyle: s.PathStyle, CredentialsFile: s.Credentials,
	})
	if err != nil {
		return err
	}
	c.Remote, c.CheckInterval, c.LeaseTTL, c.Replica = st, s.Check, s.Lease, s.Replica
	return nil
}
