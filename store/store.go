// Package store is csvapi's client of S3-compatible object storage (AWS S3,
// MinIO, SeaweedFS, Garage, Ceph RGW, versitygw…), where replicas share
// their converted tables.
//
// It offers the few operations the cache needs, on keys relative to a
// prefix: small objects read with their ETag (and conditionally, to re-check
// one cheaply), written unconditionally, created only if absent
// (If-None-Match: *, the conditional write S3 has had since 2024) or
// replaced only if unchanged (If-Match), deleted, listed by prefix; and large files uploaded
// and downloaded as streams, the download verified against a SHA-256 and
// renamed into place only when complete.
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Errors returned by S3's methods; other errors are the store's or the
// network's (unreachable store, access denied…).
var (
	// ErrNotFound is returned for a key that holds no object.
	ErrNotFound = errors.New("object not found")
	// ErrPrecondition is returned when a conditional write lost: Create of
	// a key that exists, Replace of an object whose ETag changed.
	ErrPrecondition = errors.New("object precondition failed")
	// ErrNotModified is returned by Get when the object still has the ETag
	// the caller has.
	ErrNotModified = errors.New("object not modified")
	// ErrChecksum is returned by Download when the bytes received do not
	// have the expected SHA-256.
	ErrChecksum = errors.New("object checksum mismatch")
	// ErrTooLarge is returned by Get for an object over MaxSmallObject.
	ErrTooLarge = errors.New("object too large")
)

// MaxSmallObject bounds what Get reads into memory (manifests and leases
// are a few hundred bytes).
const MaxSmallObject = 1 << 20

// sumKey is the user metadata that carries an uploaded file's SHA-256.
const sumKey = "Sha256"

// Config says where the store is and how to sign in.
type Config struct {
	Bucket    string
	Prefix    string // every key is under it ("" for the bucket's root)
	Endpoint  string // URL of an S3-compatible server; "": AWS S3
	Region    string
	PathStyle bool // bucket in the path rather than in the host name
	// CredentialsFile is an AWS shared credentials file; "" reads
	// AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials. The AWS_*
	// variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
	// AWS_SESSION_TOKEN) come first.
	CredentialsFile string
	Profile         string // profile in the file; "": AWS_PROFILE or default
	Transport       http.RoundTripper
}

// ParseURL splits "s3://bucket/prefix" into its bucket and prefix (without
// slashes at its ends). It returns an error for another scheme or no bucket.
func ParseURL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return "", "", fmt.Errorf("store %q: want s3://bucket/prefix", raw)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// S3 is a store in one bucket, under one prefix. It is safe for concurrent use.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

// New returns the client of the store cfg describes. It does not contact
// the store; it returns an error for an invalid endpoint.
func New(cfg Config) (*S3, error) {
	host, secure := "s3.amazonaws.com", true
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("store endpoint %q: want http(s)://host[:port]", cfg.Endpoint)
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{Filename: cfg.CredentialsFile, Profile: cfg.Profile},
	})
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(host, &minio.Options{
		Creds: creds, Secure: secure, Region: cfg.Region, BucketLookup: lookup,
		Transport: cfg.Transport,
		// The cache retries on its own schedule; an unreachable store must
		// fail fast so that local copies keep being served.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return &S3{client: client, bucket: cfg.Bucket, prefix: strings.Trim(cfg.Prefix, "/")}, nil
}

func (s *S3) key(k string) string {
	if s.prefix == "" {
		return k
	}
	return s.prefix + "/" + k
}

// Get returns the small object at key and its ETag. With etag set, it
// returns ErrNotModified when the object still has it. It returns
// ErrNotFound, ErrTooLarge, or the store's error.
func (s *S3) Get(ctx context.Context, key, etag string) ([]byte, string, error) {
	var opts minio.GetObjectOptions
	if etag != "" {
		opts.SetMatchETagExcept(etag)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(key), opts)
	if err != nil {
		return nil, "", classify(err)
	}
	defer obj.Close()
	st, err := obj.Stat()
	if err != nil {
		return nil, "", classify(err)
	}
	if st.Size > MaxSmallObject {
		return nil, "", fmt.Errorf("%s: %w", key, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(obj, MaxSmallObject))
	if err != nil {
		return nil, "", classify(err)
	}
	return b, st.ETag, nil
}

// Put writes body at key, replacing what is there, and returns its ETag.
// It returns the store's error.
func (s *S3) Put(ctx context.Context, key string, body []byte) (string, error) {
	return s.put(ctx, key, body, minio.PutObjectOptions{})
}

// Create writes body at key only if no object is there, and returns its
// ETag. It returns ErrPrecondition when one is, or the store's error.
func (s *S3) Create(ctx context.Context, key string, body []byte) (string, error) {
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	return s.put(ctx, key, body, opts)
}

// Replace writes body at key only if the object there still has etag, and
// returns the new ETag. It returns ErrPrecondition when it changed,
// ErrNotFound when it is gone, or the store's error.
func (s *S3) Replace(ctx context.Context, key string, body []byte, etag string) (string, error) {
	var opts minio.PutObjectOptions
	opts.SetMatchETag(etag)
	return s.put(ctx, key, body, opts)
}

func (s *S3) put(ctx context.Context, key string, body []byte, opts minio.PutObjectOptions) (string, error) {
	opts.ContentType = "application/json"
	info, err := s.client.PutObject(ctx, s.bucket, s.key(key), strings.NewReader(string(body)), int64(len(body)), opts)
	if err != nil {
		return "", classify(err)
	}
	return info.ETag, nil
}

// Delete removes the object at key; a missing object is not an error. It
// returns the store's error.
func (s *S3) Delete(ctx context.Context, key string) error {
	err := classify(s.client.RemoveObject(ctx, s.bucket, s.key(key), minio.RemoveObjectOptions{}))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Object is one entry of List: a key (relative to the store's prefix) and
// the ETag its object has.
type Object struct {
	Key  string
	ETag string
}

// List returns the objects whose keys start with prefix (relative to the
// store's prefix), in key order. It returns the store's error.
func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	full := s.key(prefix)
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if o.Err != nil {
			return nil, classify(o.Err)
		}
		out = append(out, Object{Key: prefix + strings.TrimPrefix(o.Key, full), ETag: o.ETag})
	}
	return out, nil
}

// Upload streams the file at path to key (in parts for large files) and
// returns the SHA-256 of its bytes, which Download checks. It returns the
// file's or the store's error.
func (s *S3) Upload(ctx context.Context, key, file string) (string, error) {
	sum, err := fileSum(file)
	if err != nil {
		return "", err
	}
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	_, err = s.client.PutObject(ctx, s.bucket, s.key(key), f, st.Size(), minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{sumKey: sum},
	})
	if err != nil {
		return "", classify(err)
	}
	return sum, nil
}

// Download streams the object at key into a temporary file beside dest,
// checks that its bytes have the SHA-256 sum, and renames it to dest. A
// failed download leaves nothing behind. It returns ErrNotFound,
// ErrChecksum, or the file's or the store's error.
func (s *S3) Download(ctx context.Context, key, dest, sum string) error {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(key), minio.GetObjectOptions{})
	if err != nil {
		return classify(err)
	}
	defer obj.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dest), filepath.Base(dest)+".tmp-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), obj); err != nil {
		return classify(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%s: %w: got %s, want %s", path.Base(key), ErrChecksum, got, sum)
	}
	if err := tmp.Chmod(0o644); err != nil { // as the files the cache writes itself
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	ok = true
	return nil
}

// Check reports whether the bucket can be reached and exists. It returns
// ErrNotFound for a missing bucket, or the store's error.
func (s *S3) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return classify(err)
	}
	if !ok {
		return fmt.Errorf("bucket %s: %w", s.bucket, ErrNotFound)
	}
	return nil
}

func fileSum(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// classify maps the store's answers that callers branch on to the sentinels.
func classify(err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey":
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed":
		return fmt.Errorf("%w: %v", ErrPrecondition, err)
	case resp.StatusCode == http.StatusNotModified || resp.Code == "NotModified":
		return fmt.Errorf("%w: %v", ErrNotModified, err)
	}
	return err
}
