package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// idleWait is how long a started csvapi is left alone before its resident
// memory is read as "at idle".
const idleWait = 2 * time.Second

// coldStart measures, rounds alternated: csvapi started on a cache of
// coldResources converted resources, from the process start to the first
// page of one of them served, and its memory at idle; against csvapi
// started on an empty cache, from the start to /health. The cache is built
// once and reused by later runs (rebuilt when csvapi no longer knows it).
// Revalidation is off (--ttl 0) so that the measure does not depend on the
// upstream of the first run.
func (b *bench) coldStart() error {
	srcDir := filepath.Join(b.dir, "coldstart-src")
	cacheDir := filepath.Join(b.dir, fmt.Sprintf("cache-coldstart-%d", b.coldResources))
	ids, err := b.coldCache(srcDir, cacheDir, false)
	if err != nil {
		return err
	}
	var full, empty, ratio, fullRSS, fullTree, emptyRSS sample
	rebuilt := false
	for r := 0; r < b.rounds; r++ {
		id := ids[(r*7919)%len(ids)] // another resource each round
		svc, err := launchCSVAPI(b.bin, cacheDir, "--ttl", "0")
		if err != nil {
			return err
		}
		took, err := svc.waitOK("/api/"+id+"?_size=20", 2*time.Minute)
		if isNotFound(err) && !rebuilt {
			// The cache was built by an older csvapi whose files this one
			// does not keep: build it again, once.
			svc.stop()
			rebuilt = true
			log.Printf("csvapi does not know the cached resources of %s: building them again", cacheDir)
			if ids, err = b.coldCache(srcDir, cacheDir, true); err != nil {
				return err
			}
			r--
			continue
		}
		if err != nil {
			svc.stop()
			return err
		}
		time.Sleep(idleWait)
		pid := svc.cmd.Process.Pid
		fullRSS, fullTree = append(fullRSS, mb(rss(pid, "VmRSS"))), append(fullTree, mb(treeRSS(pid)))
		svc.stop()

		emptyDir := filepath.Join(b.dir, "cache-empty")
		if err := os.RemoveAll(emptyDir); err != nil {
			return err
		}
		e, err := launchCSVAPI(b.bin, emptyDir, "--ttl", "0")
		if err != nil {
			return err
		}
		base, err := e.waitOK("/health", time.Minute)
		if err != nil {
			e.stop()
			return err
		}
		time.Sleep(idleWait)
		emptyRSS = append(emptyRSS, mb(rss(e.cmd.Process.Pid, "VmRSS")))
		e.stop()
		full, empty, ratio = append(full, ms(took)), append(empty, ms(base)), append(ratio, float64(took)/float64(base))
		log.Printf("coldstart: first page %s with %d resources; /health %s with none", round(took), len(ids), round(base))
	}
	b.add(result{
		section:   "Cold start",
		measure:   fmt.Sprintf("process start → first page of one of %s cached resources (`--ttl 0`)", thousands(len(ids))),
		csvapi:    full.format(0, " ms"),
		reference: "process start → `/health` on an empty cache: " + empty.format(0, " ms"),
		ratio:     ratio.format(2, "×"),
	})
	b.add(result{
		section:   "Cold start",
		measure:   fmt.Sprintf("resident memory at idle (%s after the first page) with %s cached resources", idleWait, thousands(len(ids))),
		csvapi:    fullRSS.format(0, " MB") + " (with children: " + fullTree.format(0, " MB") + ")",
		reference: "on an empty cache: " + emptyRSS.format(0, " MB"),
		ratio:     fmt.Sprintf("%.2f×", fullRSS.median()/emptyRSS.median()),
	})
	return nil
}

func isNotFound(err error) bool {
	return err != nil && strings.Contains(err.Error(), ": 404")
}

func mb(n int64) float64             { return float64(n) / (1 << 20) }
func idsPath(cacheDir string) string { return cacheDir + ".ids" }

// coldCache returns the ids of the cold-start cache, converting the small
// files into it first when it is missing, incomplete, or rebuild is set.
func (b *bench) coldCache(srcDir, cacheDir string, rebuild bool) ([]string, error) {
	if !rebuild {
		if raw, err := os.ReadFile(idsPath(cacheDir)); err == nil {
			if ids := strings.Fields(string(raw)); len(ids) == b.coldResources {
				return ids, nil
			}
		}
	}
	if err := writeSmallCSVs(srcDir, b.coldResources); err != nil {
		return nil, err
	}
	os.Remove(idsPath(cacheDir))
	svc, err := startCSVAPI(b.bin, cacheDir, "--ttl", "0")
	if err != nil {
		return nil, err
	}
	defer svc.stop()
	log.Printf("converting %d small files into %s (once; reused by later runs)", b.coldResources, cacheDir)
	start := time.Now()
	ids := make([]string, b.coldResources)
	errs := make(chan error, b.coldResources)
	var next sync.Mutex
	n := 0
	var wg sync.WaitGroup
	for range 4 { // csvapi's default --max-client-loads
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				i := n
				n++
				next.Unlock()
				if i >= b.coldResources {
					return
				}
				if i > 0 && i%100 == 0 {
					log.Printf("%d of %d converted", i, b.coldResources)
				}
				u := fmt.Sprintf("%s/coldstart-src/small-%04d.csv", b.upstream, i)
				var err error
				for attempt := 0; attempt < 50; attempt++ {
					if ids[i], _, err = svc.apify(u); !isStatus(err, http.StatusTooManyRequests) && !isStatus(err, http.StatusServiceUnavailable) {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				if err != nil {
					errs <- fmt.Errorf("apify %s: %w", u, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	log.Printf("converted %d files in %s", b.coldResources, time.Since(start).Round(time.Second))
	if err := os.WriteFile(idsPath(cacheDir), []byte(strings.Join(ids, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return ids, nil
}
