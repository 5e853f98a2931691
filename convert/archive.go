package convert

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/klauspost/compress/zip"
	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow bounds the memory a zstd frame may ask for. 128 MB is what
// the zstd tool itself accepts without --long=31; larger windows are refused
// rather than allocated.
const zstdMaxWindow = 128 << 20

// maxZipEntries bounds how many members of a zip are considered, so that an
// archive of millions of empty entries cannot make a load spin.
const maxZipEntries = 10000

func unzstdFile(ctx context.Context, src, dir string, maxSize int64) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	zr, err := zstd.NewReader(bufio.NewReaderSize(in, 1<<20),
		zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderLowmem(true))
	if err != nil {
		return "", fmt.Errorf("%w: corrupt zstd stream: %v", ErrNotTabular, err)
	}
	defer zr.Close()
	return writeTemp(ctx, dir, "unzstd-*", func(w io.Writer) error {
		return copyCapped(w, zr, maxSize, "zstd")
	})
}

// copyCapped copies r to w, stopping with ErrTooLarge past maxSize bytes:
// decompressed sizes are only known by reading.
func copyCapped(w io.Writer, r io.Reader, maxSize int64, what string) error {
	n, err := io.Copy(w, io.LimitReader(r, maxSize+1))
	if err != nil {
		return fmt.Errorf("%w: corrupt %s content: %v", ErrNotTabular, what, err)
	}
	if n > maxSize {
		return fmt.Errorf("%w: more than %d bytes once decompressed", ErrTooLarge, maxSize)
	}
	return nil
}

// sniffZip tells Office documents, which are zip archives, from plain ones.
func sniffZip(path string) (format, error) {
	if err := checkZipEntries(path); err != nil {
		return 0, err
	}
	zr, err := zip.OpenReader(path)
	if err != nil {
		return 0, fmt.Errorf("%w: corrupt zip archive", ErrNotTabular)
	}
	defer zr.Close()
	var docx bool
	for _, f := range zr.File {
		switch f.Name {
		case "xl/workbook.xml", "xl/workbook.bin":
			if f.Name == "xl/workbook.bin" {
				return 0, fmt.Errorf("%w: the content is an xlsb workbook (unsupported: save it as xlsx)", ErrNotTabular)
			}
			return formatXLSX, checkXLSXParts(zr.File)
		case "mimetype":
			mt, err := readMember(f, 256)
			if err != nil {
				return 0, err
			}
			switch strings.TrimSpace(string(mt)) {
			case "application/vnd.oasis.opendocument.spreadsheet":
				return formatODS, nil
			case "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.presentation":
				return 0, fmt.Errorf("%w: the content is an OpenDocument text or presentation", ErrNotTabular)
			}
		case "word/document.xml", "ppt/presentation.xml":
			docx = true
		}
	}
	if docx {
		return 0, fmt.Errorf("%w: the content is a Word or PowerPoint document", ErrNotTabular)
	}
	return formatZip, nil
}

// readMember reads at most limit bytes of a zip member.
func readMember(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: corrupt zip member %q", ErrNotTabular, f.Name)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: corrupt zip member %q", ErrNotTabular, f.Name)
	}
	return b, nil
}

// extractZip writes the member holding the table into dir and returns its
// path and name. With pick empty the archive must hold exactly one table
// (or exactly one member named like one, see onlyTableByName); otherwise pick is a member's full name, or its base name when that is
// unambiguous. Sizes declared in the archive are never trusted: the copy is
// capped at maxSize.
func extractZip(ctx context.Context, src, dir, pick string, maxSize int64) (string, string, error) {
	zr, err := zip.OpenReader(src)
	if err != nil {
		return "", "", fmt.Errorf("%w: corrupt zip archive", ErrNotTabular)
	}
	defer zr.Close()
	members := tableMembers(zr.File)
	f, err := pickMember(members, pick)
	if err != nil {
		return "", "", err
	}
	rc, err := f.Open()
	if err != nil {
		return "", "", fmt.Errorf("%w: corrupt zip member %q", ErrNotTabular, f.Name)
	}
	defer rc.Close()
	out, err := writeTemp(ctx, dir, "unzip-*", func(w io.Writer) error {
		return copyCapped(w, rc, maxSize, "zip")
	})
	return out, f.Name, err
}

// tableMembers lists the members that may hold a table: not directories,
// not the resource forks and hidden files that archivers add, and not
// content that is recognisably something else (a PDF notice, an image).
func tableMembers(files []*zip.File) []*zip.File {
	var out []*zip.File
	for i, f := range files {
		if i >= maxZipEntries {
			break
		}
		base := path.Base(f.Name)
		if strings.HasSuffix(f.Name, "/") || strings.HasPrefix(f.Name, "__MACOSX/") ||
			strings.HasPrefix(base, ".") || f.Mode().IsDir() {
			continue
		}
		head, err := readMember(f, 512)
		if err != nil || len(bytes.TrimSpace(head)) == 0 || nonTableKind(head) != "" {
			continue
		}
		out = append(out, f)
	}
	return out
}

func pickMember(members []*zip.File, pick string) (*zip.File, error) {
	names := make([]string, len(members))
	for i, f := range members {
		names[i] = f.Name
	}
	switch {
	case len(members) == 0:
		return nil, fmt.Errorf("%w: the zip archive holds no table", ErrNotTabular)
	case pick == "" && len(members) == 1:
		return members[0], nil
	case pick == "":
		if f := onlyTableByName(members); f != nil {
			return f, nil
		}
		return nil, &ChoiceError{Param: "file", Choices: truncate(names)}
	}
	var byBase []*zip.File
	for _, f := range members {
		if f.Name == pick {
			return f, nil
		}
		if path.Base(f.Name) == pick {
			byBase = append(byBase, f)
		}
	}
	if len(byBase) == 1 {
		return byBase[0], nil
	}
	return nil, &ChoiceError{Param: "file", Value: pick, Choices: truncate(names)}
}

// tableExtensions are the member names that announce a table. Inside an
// archive the names are the publisher's own, so they may break a tie: a
// zip of data.csv and LISEZMOI.txt holds one table. The content still
// decides how the member is read.
var tableExtensions = []string{".csv", ".tsv", ".xlsx", ".xls", ".ods", ".json", ".ndjson", ".jsonl", ".parquet"}

// onlyTableByName returns the one member whose name announces a table
// (compressed or not), or nil when there are none or several.
func onlyTableByName(members []*zip.File) *zip.File {
	var found *zip.File
	for _, f := range members {
		name := strings.ToLower(f.Name)
		name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".zst")
		for _, ext := range tableExtensions {
			if strings.HasSuffix(name, ext) {
				if found != nil {
					return nil
				}
				found = f
				break
			}
		}
	}
	return found
}
