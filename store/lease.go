package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Lease is the content of a lease object: Holder does the work the lease
// names until Expires, unless it renews the lease before.
type Lease struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// Objects is what leases need of a store: a *S3, or a fake in tests.
type Objects interface {
	Get(ctx context.Context, key, etag string) ([]byte, string, error)
	Create(ctx context.Context, key string, body []byte) (string, error)
	Replace(ctx context.Context, key string, body []byte, etag string) (string, error)
	Delete(ctx context.Context, key string) error
}

// Leases takes, renews and releases leases: small objects naming the
// replica that does a piece of work (a load, a link check), so that
// replicas sharing a store do it once. A holder that dies stops renewing,
// and its lease is taken over once it has expired. Conditional writes
// (Create, Replace on an ETag) settle every race.
type Leases struct {
	Objects Objects
	Holder  string        // this replica's name
	TTL     time.Duration // lifetime of a lease; renewed every third of it
	Timeout time.Duration // of one request to the store
	Now     func() time.Time
	// Observe, when set, sees the error of every request (the callers
	// track whether the store answers) and returns it.
	Observe func(error) error
}

// Taken is the outcome of Take.
type Taken struct {
	Tag    string // the lease's ETag when this replica holds it
	Holder string // else the replica that holds it ("" when it was released meanwhile: try again)
	// From is the holder of the expired lease this replica took over
	// ("" when it created the lease).
	From string
}

// Take creates the lease at key, or takes over an expired (or unreadable)
// one. It returns the store's error when the store cannot be reached.
func (l *Leases) Take(ctx context.Context, key string) (Taken, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	body := l.body()
	tag, err := l.Objects.Create(ctx, key, body)
	if !errors.Is(l.observe(err), ErrPrecondition) {
		return Taken{Tag: tag}, err
	}
	b, old, err := l.Objects.Get(ctx, key, "")
	if errors.Is(l.observe(err), ErrNotFound) {
		return Taken{}, nil // released meanwhile
	}
	if err != nil {
		return Taken{}, err
	}
	var held Lease
	if json.Unmarshal(b, &held) == nil && l.Now().Before(held.Expires) {
		return Taken{Holder: held.Holder}, nil
	}
	// Expired (its holder died) or unreadable: take it over, unless another
	// replica did first.
	tag, err = l.Objects.Replace(ctx, key, body, old)
	if errors.Is(l.observe(err), ErrPrecondition) || errors.Is(err, ErrNotFound) {
		return Taken{Holder: held.Holder}, nil
	}
	if err != nil {
		return Taken{}, err
	}
	return Taken{Tag: tag, From: held.Holder}, nil
}

// Renew extends the lease at key, whose ETag is tag, every third of TTL
// until stop is closed, then sends its last ETag on renewed. lost is
// called when another replica took the lease over meanwhile. Its requests
// run under ctx.
func (l *Leases) Renew(ctx context.Context, key, tag string, stop <-chan struct{}, renewed chan<- string, lost func()) {
	t := time.NewTicker(l.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			renewed <- tag
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.Timeout)
		next, err := l.Objects.Replace(rctx, key, l.body(), tag)
		cancel()
		switch {
		case l.observe(err) == nil:
			tag = next
		case errors.Is(err, ErrPrecondition), errors.Is(err, ErrNotFound):
			lost()
		}
	}
}

// Release deletes the lease at key if it is still the one whose ETag is
// tag: one taken over by another replica is left alone.
func (l *Leases) Release(ctx context.Context, key, tag string) {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	if _, _, err := l.Objects.Get(ctx, key, tag); !errors.Is(err, ErrNotModified) {
		return // taken over, or gone
	}
	l.observe(l.Objects.Delete(ctx, key))
}

func (l *Leases) body() []byte {
	b, _ := json.Marshal(Lease{Holder: l.Holder, Expires: l.Now().Add(l.TTL).UTC()})
	return b
}

func (l *Leases) observe(err error) error {
	if l.Observe != nil {
		return l.Observe(err)
	}
	return err
}
