package cache

import (
	"encoding/json"
	"fmt"
	"os"
)

// profileExt is the extension of a version's profile sidecar,
// <id>-<version>.profile.json: the profile of all its rows, computed once
// and kept so that a restart does not compute it again. It stays local
// even with a Remote: another replica computes its own.
const profileExt = ".profile.json"

// profileSidecar is the content of a profile sidecar. Version repeats the
// file name's, so that a file copied or renamed by hand is not taken for
// another version's.
type profileSidecar struct {
	Version string          `json:"version"`
	Profile json.RawMessage `json:"profile"`
}

// ReadProfile returns the profile SaveProfile kept for e's version, as it
// was given. It returns the error of reading the file (fs.ErrNotExist when
// there is none), or an error when the file is not a profile of this
// version (corrupt, truncated, another version's): the caller computes the
// profile again and saves it over.
func (e *Entry) ReadProfile() ([]byte, error) {
	path := e.c.file(e.v, profileExt)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sc profileSidecar
	if err := json.Unmarshal(b, &sc); err != nil || sc.Version != e.Version || len(sc.Profile) == 0 {
		return nil, fmt.Errorf("profile sidecar of %s: invalid", e.v.name)
	}
	return sc.Profile, nil
}

// SaveProfile keeps profile, a JSON value, beside e's version until the
// version's files are deleted. The file is written under a temporary name
// and renamed, so that a reader never sees half of it; when the version
// was retired meanwhile nothing is kept (its files are going). Errors are
// those of writing the file, or of marshalling a profile that is not JSON.
func (e *Entry) SaveProfile(profile []byte) error {
	b, err := json.Marshal(profileSidecar{Version: e.Version, Profile: profile})
	if err != nil {
		return err
	}
	path := e.c.file(e.v, profileExt)
	tmp := path + ".tmp" // scan removes *.json.tmp leftovers
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	// Renamed with the cache locked, so that destroy, which runs locked
	// too, either runs after and removes the file or has run before and
	// the file is not created.
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	if e.v.retired {
		return os.Remove(tmp)
	}
	return os.Rename(tmp, path)
}
