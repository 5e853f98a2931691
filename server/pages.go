package server

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/problem"
)

// pageFiles are the HTML templates of the web pages. Their scripts and
// styles are files under web/static: the CSP forbids inline ones.
//
//go:embed web/*.html
var pageFiles embed.FS

var pageTemplates = template.Must(template.New("").Funcs(template.FuncMap{"asset": assetPath}).
	ParseFS(pageFiles, "web/*.html"))

// pageLangs are the languages of the pages, the first one being the default.
var pageLangs = []string{"en", "fr"}

// pageText holds the few words the templates print; the table's own words
// are in csvapi-preview.js.
var pageText = map[string]map[string]string{
	"en": {
		"tagline":  "csvapi turns a tabular file on the web (CSV, spreadsheet, JSON, Parquet) into a JSON API you can filter, sort and export.",
		"tagline2": "Paste the address of a file to explore it as a table, or drop a file from your computer.",
		"url":      "Address of a file (http or https)",
		"explore":  "Explore",
		"drop":     "Or drop a file here, or choose one",
		"recent":   "Your recent tables",
		"recentNo": "The tables you explore on this device will be listed here.",
		"docs":     "API documentation",
		"other":    "Français",
		"otherLng": "fr",
		"loading":  "Loading…",
		"open":     "Open in csvapi",
		"noscript": "This page needs JavaScript to show the table. The data is also available as JSON:",
	},
	"fr": {
		"tagline":  "csvapi transforme un fichier tabulaire publié sur le web (CSV, tableur, JSON, Parquet) en une API JSON que l'on peut filtrer, trier et exporter.",
		"tagline2": "Collez l'adresse d'un fichier pour l'explorer sous forme de tableau, ou déposez un fichier de votre ordinateur.",
		"url":      "Adresse d'un fichier (http ou https)",
		"explore":  "Explorer",
		"drop":     "Ou déposez un fichier ici, ou choisissez-en un",
		"recent":   "Vos tableaux récents",
		"recentNo": "Les tableaux que vous explorez sur cet appareil apparaîtront ici.",
		"docs":     "Documentation de l'API",
		"other":    "English",
		"otherLng": "en",
		"loading":  "Chargement…",
		"open":     "Ouvrir dans csvapi",
		"noscript": "Cette page a besoin de JavaScript pour afficher le tableau. Les données sont aussi disponibles en JSON :",
	},
}

// pageData is what the templates see.
type pageData struct {
	Lang  string
	T     map[string]string
	Mode  string // explore or embed
	ID    string // resource id, empty on the home page
	Apify string // /apify URL when the page converts first
}

// handleHome serves GET /: what csvapi is, a URL field and a file drop.
func (s *Server) handleHome(c *fiber.Ctx) error {
	return s.renderPage(c, "index.html", pageData{})
}

// handleExplore serves GET /explore/<id> and GET /explore?url=…; the
// latter converts the file first, its script following /api/<id>/status.
func (s *Server) handleExplore(c *fiber.Ctx) error {
	id := strings.Clone(c.Params("id"))
	d := pageData{Mode: "explore", ID: id}
	if id == "" {
		raw := strings.Clone(c.Query("url"))
		if raw == "" {
			return c.Redirect("/", http.StatusFound)
		}
		if err := validateURL(raw); err != nil {
			return err
		}
		opts := cache.Options{Sheet: strings.Clone(c.Query("sheet")), File: strings.Clone(c.Query("file"))}
		d.ID, d.Apify = opts.URLID(raw), "/apify?"+apifyQuery(c)
	} else if !cache.ValidID(id) {
		return &problem.Problem{Status: http.StatusNotFound, Code: problem.CodeNotFound, Message: "No such resource id: " + id}
	}
	return s.renderPage(c, "explore.html", d)
}

// handleEmbed serves GET /embed/<id>, the compact table meant for an iframe.
func (s *Server) handleEmbed(c *fiber.Ctx) error {
	id := strings.Clone(c.Params("id"))
	if !cache.ValidID(id) {
		return &problem.Problem{Status: http.StatusNotFound, Code: problem.CodeNotFound, Message: "No such resource id: " + id}
	}
	return s.renderPage(c, "explore.html", pageData{Mode: "embed", ID: id})
}

// apifyParams are the parameters of /explore?url=… that belong to /apify
// (the conversion); the others describe the view.
var apifyParams = []string{"url", "encoding", "delimiter", "quote", "escape", "header", "skip", "decimal", "sheet", "file", "refresh"}

// apifyQuery is the /apify query string of an /explore?url=… request.
func apifyQuery(c *fiber.Ctx) string {
	v := url.Values{}
	for _, k := range apifyParams {
		if x := c.Query(k); x != "" {
			v.Set(k, x)
		}
	}
	return v.Encode()
}

func (s *Server) renderPage(c *fiber.Ctx, name string, d pageData) error {
	d.Lang = pageLang(c.Query("lang"), c.Get(fiber.HeaderAcceptLanguage))
	d.T = pageText[d.Lang]
	var b bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&b, name, d); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderVary, fiber.HeaderAcceptLanguage)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(b.Bytes())
}

// pageLang picks the page language: an explicit ?lang= wins, then the
// preferred language of Accept-Language that we have, then English.
func pageLang(explicit, acceptLanguage string) string {
	if _, ok := pageText[explicit]; ok {
		return explicit
	}
	type pref struct {
		lang string
		q    float64
	}
	var prefs []pref
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if _, ok := pageText[base]; ok && q > 0 {
			prefs = append(prefs, pref{base, q})
		}
	}
	// Stable: equal weights keep the header's order.
	sort.SliceStable(prefs, func(i, j int) bool { return prefs[i].q > prefs[j].q })
	if len(prefs) > 0 {
		return prefs[0].lang
	}
	return pageLangs[0]
}
