package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http"
	"path/filepath"
	"time"
)

// runFidelity loads the same French table written in Windows-1252 and in
// UTF-8, each on a fresh csvapi limited to 1 GB of DuckDB memory, and
// checks that both give the same columns, types and rows (SHA-256 of the
// CSV export), reporting peak memory (the conversion runs in a worker
// process, so the tree's is sampled during the load).
func runFidelity(dir string, rows int) error {
	cp := filepath.Join(dir, fmt.Sprintf("fidelity-cp1252-%d.csv", rows))
	u8 := filepath.Join(dir, fmt.Sprintf("fidelity-utf8-%d.csv", rows))
	log.Printf("generating %d rows in Windows-1252 and UTF-8", rows)
	if err := writeCSVEncoded(cp, rows, true, true); err != nil {
		return err
	}
	if err := writeCSVEncoded(u8, rows, true, false); err != nil {
		return err
	}
	up, err := serveFiles(dir)
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "csvapi")
	var sums [2]string
	var infos [2]string
	for i, path := range []string{cp, u8} {
		svc, err := startCSVAPI(bin, filepath.Join(dir, "cache-fidelity"), "--memory-limit", "1GB", "--max-file-size", "4GB")
		if err != nil {
			return err
		}
		sampler := sampleTree(svc.cmd.Process.Pid, 20*time.Millisecond)
		id, took, err := svc.apify(up + "/" + filepath.Base(path))
		treePeak, _ := sampler()
		if err != nil {
			svc.stop()
			return err
		}
		var page struct {
			Total        int64          `json:"total"`
			ColumnsInfos map[string]any `json:"columns_infos"`
			GeneralInfos map[string]any `json:"general_infos"`
		}
		if err := getJSON(svc.base+"/api/"+id+"?_size=0", &page); err != nil {
			svc.stop()
			return err
		}
		sum, n, err := exportHash(svc.base + "/api/" + id + "/export")
		peak := max(svc.peakRSS(), treePeak)
		svc.stop()
		if err != nil {
			return err
		}
		sums[i] = sum
		infos[i] = fmt.Sprint(page.Total, page.ColumnsInfos)
		fmt.Printf("%s: %s, %d rows, encoding %v, load %.1f s, export %s, peak RSS (server, or its process tree during the load) %s, export SHA-256 %s\n",
			filepath.Base(path), humanBytes(fileSize(path)), page.Total, page.GeneralInfos["encoding"],
			took.Seconds(), humanBytes(n), humanBytes(peak), sum[:16])
	}
	if sums[0] != sums[1] || infos[0] != infos[1] {
		return fmt.Errorf("the Windows-1252 and UTF-8 files give different tables")
	}
	fmt.Println("same columns, types and rows in both encodings")
	return nil
}

func exportHash(u string) (string, int64, error) {
	resp, err := http.Get(u)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return hex.EncodeToString(h.Sum(nil)), n, err
}
