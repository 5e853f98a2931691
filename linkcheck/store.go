package linkcheck

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// StoreFile is the name of the store's file in its directory.
const StoreFile = "checks.jsonl"

// MaxCallbacks is how many callback URLs are kept per URL (the latest).
const MaxCallbacks = 5

// urlEntry is what the store keeps per URL.
type urlEntry struct {
	URL       string   `json:"url"`
	Result    Result   `json:"result,omitempty"`
	Callbacks []string `json:"callbacks,omitempty"`
	// Checked is when Result was had, to the nanosecond: with a shared
	// store, the newer of two results wins.
	Checked time.Time `json:"checked,omitzero"`
}

// groupEntry is what the store keeps per group.
type groupEntry struct {
	Name      string            `json:"name"`
	Frequency string            `json:"frequency,omitempty"`
	URLs      map[string]string `json:"urls"` // url hash → URL
	// Checked is when the group's URLs were last queued, for re-checks.
	Checked time.Time `json:"checked"`
}

// record is one line of the store's file: the whole new state of one URL or
// one group. The last line of a hash wins when the file is read back.
type record struct {
	Hash  string      `json:"hash"`
	URL   *urlEntry   `json:"url,omitempty"`
	Group *groupEntry `json:"group,omitempty"`
}

// Store keeps URLs and groups in memory and appends every change to a
// JSON-lines file, compacted when opened, so that results survive restarts
// without another service to run. It is safe for concurrent use.
type Store struct {
	mu     sync.Mutex
	path   string
	f      *os.File
	lines  int // in the file, to know when to compact it
	urls   map[string]*urlEntry
	groups map[string]*groupEntry
}

// OpenStore reads (or creates) the store in dir. It returns an error when
// the directory or file cannot be created, read or rewritten; a truncated
// last line (a crash mid-write) is skipped.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("link store: %w", err)
	}
	s := &Store{path: filepath.Join(dir, StoreFile), urls: map[string]*urlEntry{}, groups: map[string]*groupEntry{}}
	if err := s.load(); err != nil {
		return nil, err
	}
	if err := s.compact(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	f, err := os.Open(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("link store: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var rec record
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		switch {
		case rec.URL != nil:
			s.urls[rec.Hash] = rec.URL
		case rec.Group != nil:
			s.groups[rec.Hash] = rec.Group
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("link store: read %s: %w", StoreFile, err)
	}
	return nil
}

// compact rewrites the file with one line per URL and group, then keeps it
// open for appending.
func (s *Store) compact() error {
	tmp := s.path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("link store: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, h := range sortedKeys(s.urls) {
		_ = enc.Encode(record{Hash: h, URL: s.urls[h]})
	}
	for _, h := range sortedKeys(s.groups) {
		_ = enc.Encode(record{Hash: h, Group: s.groups[h]})
	}
	if err := errors.Join(w.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("link store: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("link store: %w", err)
	}
	if s.f != nil {
		s.f.Close()
	}
	s.f, err = os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("link store: %w", err)
	}
	s.lines = len(s.urls) + len(s.groups)
	return nil
}

// Close closes the file. The store must not be used afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Close()
}

// append writes rec; the caller holds s.mu.
func (s *Store) append(rec record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := s.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("link store: %w", err)
	}
	s.lines++
	// Re-checks append a line per URL each time: compact once most lines
	// are stale.
	if s.lines > 4*(len(s.urls)+len(s.groups))+1000 {
		return s.compact()
	}
	return nil
}

// addURL registers rawURL, with callback if not empty, and returns its hash.
func (s *Store) addURL(rawURL, callback string) (string, error) {
	h := URLHash(rawURL)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.urls[h]
	if e == nil {
		e = &urlEntry{URL: rawURL}
	} else {
		e = e.clone()
	}
	if callback != "" && !contains(e.Callbacks, callback) {
		e.Callbacks = append(e.Callbacks, callback)
		// Anyone may add a callback to a URL: keep the latest few so that
		// one check cannot fan out into many posts.
		if len(e.Callbacks) > MaxCallbacks {
			e.Callbacks = e.Callbacks[len(e.Callbacks)-MaxCallbacks:]
		}
	}
	s.urls[h] = e
	return h, s.append(record{Hash: h, URL: e})
}

// addToGroup registers the URLs in group (creating it) and sets its
// frequency when one is given; checked stamps the group as queued.
func (s *Store) addToGroup(group, frequency string, urls []string, checked time.Time) (string, error) {
	h := GroupHash(group)
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[h]
	if g == nil {
		g = &groupEntry{Name: group, URLs: map[string]string{}}
	} else {
		g = g.clone()
	}
	if frequency != "" {
		g.Frequency = frequency
	}
	for _, u := range urls {
		g.URLs[URLHash(u)] = u
	}
	g.Checked = checked
	s.groups[h] = g
	return h, s.append(record{Hash: h, Group: g})
}

// setResult stores the result of a check of the URL with hash h, had at
// checked.
func (s *Store) setResult(h string, r Result, checked time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.urls[h]
	if e == nil {
		e = &urlEntry{URL: r["checked-url"]}
	} else {
		e = e.clone()
	}
	carrySince(e.Result, r)
	e.Result = r
	e.Checked = checked
	s.urls[h] = e
	return s.append(record{Hash: h, URL: e})
}

// carrySince sets the unreachable-since of r, a new result following prev:
// the start of the outage ("unreachable since …") while the URL fails.
func carrySince(prev, r Result) {
	if !failed(r) {
		return
	}
	since := prev["unreachable-since"]
	if since == "" || !failed(prev) {
		since = r["updated"]
	}
	r["unreachable-since"] = since
}

// setURL replaces the entry of the URL with hash h by e, a copy of the
// shared store's, when it differs.
func (s *Store) setURL(h string, e urlEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.urls[h]; old != nil && equalJSON(old, &e) {
		return nil
	}
	s.urls[h] = e.clone()
	return s.append(record{Hash: h, URL: s.urls[h]})
}

// setGroup replaces the entry of the group with hash h by g, a copy of the
// shared store's, when it differs.
func (s *Store) setGroup(h string, g groupEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.groups[h]; old != nil && equalJSON(old, &g) {
		return nil
	}
	s.groups[h] = g.clone()
	return s.append(record{Hash: h, Group: s.groups[h]})
}

// dueGroups returns the groups whose frequency says they must be checked
// again at now, without stamping them (the shared store decides who does).
func (s *Store) dueGroups(now time.Time) map[string]groupEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]groupEntry{}
	for h, g := range s.groups {
		if g.isDue(now) {
			out[h] = *g.clone()
		}
	}
	return out
}

// isDue reports whether g has a frequency and its period has passed since
// it was last queued.
func (g *groupEntry) isDue(now time.Time) bool {
	period, ok := Frequencies[g.Frequency]
	return ok && now.Sub(g.Checked) >= period
}

func equalJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// URL returns the entry of the URL with hash h.
func (s *Store) url(h string) (urlEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.urls[h]
	if !ok {
		return urlEntry{}, false
	}
	return *e.clone(), true
}

// group returns the entry of the group with hash h.
func (s *Store) group(h string) (groupEntry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[h]
	if !ok {
		return groupEntry{}, false
	}
	return *g.clone(), true
}

// due returns the groups whose frequency says they must be checked again
// at now, and stamps them as queued.
func (s *Store) due(now time.Time) ([]groupEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []groupEntry
	for _, h := range sortedKeys(s.groups) {
		g := s.groups[h]
		if !g.isDue(now) {
			continue
		}
		g = g.clone()
		g.Checked = now
		s.groups[h] = g
		if err := s.append(record{Hash: h, Group: g}); err != nil {
			return out, err
		}
		out = append(out, *g)
	}
	return out, nil
}

func (e *urlEntry) clone() *urlEntry {
	c := *e
	c.Callbacks = append([]string(nil), e.Callbacks...)
	if e.Result != nil {
		c.Result = make(Result, len(e.Result))
		for k, v := range e.Result {
			c.Result[k] = v
		}
	}
	return &c
}

func (g *groupEntry) clone() *groupEntry {
	c := *g
	c.URLs = make(map[string]string, len(g.URLs))
	for k, v := range g.URLs {
		c.URLs[k] = v
	}
	return &c
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// failed reports whether r records a URL that did not answer with a
// success: an error, or a status of 400 or more.
func failed(r Result) bool {
	if r == nil {
		return false
	}
	if r["error"] != "" {
		return true
	}
	code, _ := strconv.Atoi(r["final-status-code"])
	return code >= 400
}
