// Package storetest runs a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw, installed by .ci/run) serving a temporary
// directory, one bucket per subfolder.
package storetest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Credentials of the test server.
const (
	AccessKey = "csvapi-test"
	SecretKey = "csvapi-test-secret"
	Bucket    = "csvapi"
)

// Server is a running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	Dir      string // the buckets' parent directory
	addr     string
	bin      string
	t        testing.TB
	cmd      *exec.Cmd
}

// Start runs versitygw on a free loopback port with bucket Bucket, and
// stops it when the test ends. Without versitygw on PATH the test is
// skipped, except in CI (CI=true), where it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		msg := "versitygw not on PATH: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := &Server{Endpoint: "http://" + addr, Dir: dir, addr: addr, bin: bin, t: t}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Env returns the variables that give a client the server's credentials.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + AccessKey, "AWS_SECRET_ACCESS_KEY=" + SecretKey, "AWS_REGION=us-east-1"}
}

// Stop kills the server; Restart brings it back on the same port and data.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts the server (again) and waits until it answers.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	cmd := exec.Command(s.bin, "--port", s.addr, "posix", s.Dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	log, err := os.Create(filepath.Join(s.t.TempDir(), "versitygw.log"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	if err := s.wait(60 * time.Second); err != nil {
		b, _ := os.ReadFile(log.Name())
		s.t.Fatalf("versitygw: %v\n%s", err, b)
	}
}

// wait polls until the port answers HTTP, with a bound.
func (s *Server) wait(bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		resp, err := http.Get(s.Endpoint)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not answering after %v: %w", bound, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
