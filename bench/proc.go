package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// service is a csvapi process started by the bench.
type service struct {
	cmd  *exec.Cmd
	base string
}

func startCSVAPI(bin, cacheDir string, extra ...string) (*service, error) {
	os.RemoveAll(cacheDir) // every measure starts cold
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--cache-dir", cacheDir, "--allow-private",
		"--log-format", "json", "--log-level", "warn", "--rate-limit", "0", "--apify-wait", "10m"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				addr <- line.Addr
			}
		}
	}()
	// The "serving" line is logged at info level: read the address from the
	// listening socket instead when the log level hides it.
	select {
	case a := <-addr:
		return &service{cmd: cmd, base: "http://" + a}, nil
	case <-time.After(2 * time.Second):
	}
	a, err := listeningAddr(cmd.Process.Pid)
	if err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	return &service{cmd: cmd, base: "http://" + a}, nil
}

// listeningAddr finds the loopback port a process listens on, from
// /proc/net/tcp and the process's socket inodes.
func listeningAddr(pid int) (string, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return "", err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 9 && f[3] == "0A" && inodes[f[9]] { // 0A: LISTEN
			port, _ := strconv.ParseUint(f[1][strings.Index(f[1], ":")+1:], 16, 16)
			return fmt.Sprintf("127.0.0.1:%d", port), nil
		}
	}
	return "", errors.New("csvapi is not listening")
}

func (s *service) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
}

// apify converts a URL and waits until it is ready; it returns the id and
// the time from the request to the ready answer.
func (s *service) apify(fileURL string) (string, time.Duration, error) {
	start := time.Now()
	var body struct {
		OK       bool   `json:"ok"`
		Endpoint string `json:"endpoint"`
		Status   string `json:"status"`
		Error    string `json:"error"`
	}
	if err := getJSON(s.base+"/apify?url="+url.QueryEscape(fileURL), &body); err != nil {
		return "", 0, err
	}
	id := body.Endpoint[strings.LastIndex(body.Endpoint, "/")+1:]
	for body.Status != "" && body.Status != "ready" {
		if body.Status == "failed" {
			return "", 0, fmt.Errorf("load failed: %s", body.Error)
		}
		time.Sleep(20 * time.Millisecond)
		if err := getJSON(s.base+"/api/"+id+"/status", &body); err != nil {
			return "", 0, err
		}
	}
	return id, time.Since(start), nil
}

// deepCursor returns the query of the page after row 900,000 (or 90% of
// the table) reached by cursor, as a client paging through would ask it.
func (s *service) deepCursor(api string) (string, error) {
	var page struct {
		Total int64  `json:"total"`
		Next  string `json:"next"`
	}
	if err := getJSON(api+"?_size=1", &page); err != nil {
		return "", err
	}
	offset := page.Total * 9 / 10
	if err := getJSON(fmt.Sprintf("%s?_size=20&_offset=%d", api, offset), &page); err != nil {
		return "", err
	}
	if page.Next == "" {
		return "", errors.New("no next cursor on a deep page")
	}
	return "?_size=20&_next=" + url.QueryEscape(page.Next), nil
}

// peakRSS is the process's resident memory high-water mark.
func (s *service) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func getJSON(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}

// download reads a whole answer, returning its size and duration.
func download(u string) (int64, time.Duration, error) {
	start := time.Now()
	resp, err := http.Get(u)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return 0, 0, fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return n, time.Since(start), err
}
