package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/problem"
)

// staticFiles are the scripts and styles of the HTML pages, embedded so
// that the binary needs nothing else and pages load nothing from elsewhere.
//
//go:embed web/static
var staticFiles embed.FS

// Cache lifetimes of the static files: a content-hashed name never changes
// content, so it is cached for a year; the plain names (which other sites
// use in their <script> tags) only briefly, so that an upgrade reaches them.
const (
	hashedCacheControl = "public, max-age=31536000, immutable"
	plainCacheControl  = "public, max-age=300"
)

// asset is one static file, ready to serve: its bytes, their gzip form
// (compressed once, on first use), and its content-hashed name.
type asset struct {
	body, gz []byte
	hashed   string // e.g. csvapi-preview.1a2b3c4d5e.js
	etag     string
	ctype    string
}

// webAssets hashes and compresses the embedded static files on first use,
// not at start: the conversion worker, started for every conversion, is
// this binary too, and gzipping the assets (and reading the system's MIME
// table) was most of its start-up CPU. It returns the assets by plain and
// by hashed name, and the hashed name of each plain one.
var webAssets = sync.OnceValues(loadAssets)

// loadAssets hashes and compresses the embedded static files. The web
// component's script names the stylesheet it links into its shadow root,
// so the stylesheet is hashed first and its hashed name written into the
// script before the script is hashed.
func loadAssets() (map[string]*asset, map[string]string) {
	byName, names := map[string]*asset{}, map[string]string{}
	files, err := fs.ReadDir(staticFiles, "web/static")
	if err != nil {
		panic(err)
	}
	// Stylesheets first: scripts refer to them.
	var order []string
	for _, f := range files {
		if strings.HasSuffix(f.Name(), ".css") {
			order = append([]string{f.Name()}, order...)
		} else {
			order = append(order, f.Name())
		}
	}
	for _, name := range order {
		b, err := fs.ReadFile(staticFiles, "web/static/"+name)
		if err != nil {
			panic(err)
		}
		for plain, hashed := range names {
			b = bytes.ReplaceAll(b, []byte("/static/"+plain+"'"), []byte("/static/"+hashed+"'"))
		}
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:5])
		ext := path.Ext(name)
		a := &asset{body: b, gz: gzipBest(b), hashed: strings.TrimSuffix(name, ext) + "." + h + ext, etag: `"` + h + `"`,
			ctype: mime.TypeByExtension(ext)}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		byName[name], byName[a.hashed], names[name] = a, a, a.hashed
	}
	return byName, names
}

func gzipBest(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// assetPath is the URL path of a static file under its content-hashed
// name, for the pages' templates.
func assetPath(name string) string {
	_, names := webAssets()
	if h, ok := names[name]; ok {
		return "/static/" + h
	}
	return "/static/" + name
}

// handleStatic serves GET /static/<file> (plain or content-hashed name),
// gzipped for clients that accept it.
func (s *Server) handleStatic(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("*"))
	assets, _ := webAssets()
	a, ok := assets[name]
	if !ok {
		return &problem.Problem{Status: http.StatusNotFound, Code: problem.CodeNotFound, Message: "No such file: " + name}
	}
	c.Set(fiber.HeaderContentType, a.ctype)
	c.Vary(fiber.HeaderAcceptEncoding)
	c.Set(fiber.HeaderETag, a.etag)
	if name == a.hashed {
		c.Set(fiber.HeaderCacheControl, hashedCacheControl)
	} else {
		c.Set(fiber.HeaderCacheControl, plainCacheControl)
	}
	if c.Get(fiber.HeaderIfNoneMatch) == a.etag {
		return c.SendStatus(http.StatusNotModified)
	}
	if wantsGzip(c) {
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(a.gz)
	}
	return c.Send(a.body)
}
