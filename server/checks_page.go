package server

import (
	"bytes"
	"encoding/csv"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/linkcheck"
)

// maxDashboardRows caps the rows of the dashboard; the CSV has them all.
const maxDashboardRows = 1000

var checksText = map[string]map[string]string{
	"en": {"title": "Link checks", "status": "Status", "type": "Content type", "scheme": "Scheme", "domain": "Domain",
		"group": "Group", "stale": "Checked more than N days ago", "filter": "Filter", "csv": "CSV export of this view",
		"urls": "URLs", "shown": "showing", "code": "Status", "final": "Final URL", "size": "Size", "checked": "Last check",
		"down": "Unreachable since", "via": "via", "all": "all",
		"ok": "2xx", "redirected": "redirected", "client": "4xx", "server": "5xx", "unreachable": "unreachable", "unchecked": "not checked yet"},
	"fr": {"title": "Vérification des liens", "status": "Statut", "type": "Type de contenu", "scheme": "Schéma", "domain": "Domaine",
		"group": "Groupe", "stale": "Vérifié il y a plus de N jours", "filter": "Filtrer", "csv": "Export CSV de cette vue",
		"urls": "URL", "shown": "affichées :", "code": "Statut", "final": "URL finale", "size": "Taille", "checked": "Dernière vérification",
		"down": "Injoignable depuis", "via": "via", "all": "tous",
		"ok": "2xx", "redirected": "redirigés", "client": "4xx", "server": "5xx", "unreachable": "injoignables", "unchecked": "pas encore vérifiés"},
}

type statusOption struct {
	Value, Label string
	Selected     bool
}

// checksView reads the dashboard's filters from the query string.
func checksView(c *fiber.Ctx, now time.Time) (linkcheck.View, map[string]string, error) {
	q := map[string]string{}
	for _, k := range []string{"status", "type", "scheme", "domain", "group", "stale"} {
		q[k] = strings.Clone(c.Query(k))
	}
	v := linkcheck.View{Status: q["status"], ContentType: q["type"], Scheme: q["scheme"], Domain: q["domain"], Group: q["group"]}
	if q["stale"] != "" {
		days, err := strconv.Atoi(q["stale"])
		if err != nil || days < 0 {
			return v, q, badRequest("invalid_parameter", "stale must be a number of days.")
		}
		v.CheckedBefore = now.Add(-time.Duration(days) * 24 * time.Hour)
	}
	return v, q, nil
}

// handleChecksPage serves GET /checks, the dashboard of the link checker.
func (s *Server) handleChecksPage(c *fiber.Ctx) error {
	v, q, err := checksView(c, time.Now())
	if err != nil {
		return err
	}
	results := s.cfg.Checks.Service.Results(v)
	lang := pageLang(c.Query("lang"), c.Get(fiber.HeaderAcceptLanguage))
	w := checksText[lang]
	var rows []map[string]string
	for _, r := range results[:min(len(results), maxDashboardRows)] {
		row := map[string]string{"class": "ok"}
		if r["unreachable-since"] != "" {
			row["class"] = "bad"
		}
		for k, val := range r {
			row[k] = val
		}
		rows = append(rows, row)
	}
	var statuses []statusOption
	statuses = append(statuses, statusOption{"", w["all"], q["status"] == ""})
	for _, st := range []string{linkcheck.StatusOK, linkcheck.StatusRedirected, linkcheck.StatusClientError,
		linkcheck.StatusServerError, linkcheck.StatusUnreachable, linkcheck.StatusUnchecked} {
		statuses = append(statuses, statusOption{st, w[st], q["status"] == st})
	}
	query := url.Values{}
	for k, val := range q {
		if val != "" {
			query.Set(k, val)
		}
	}
	data := map[string]any{"Lang": lang, "T": pageText[lang], "W": w, "Q": q, "Rows": rows, "Total": len(results),
		"Statuses": statuses, "Query": template.URL(query.Encode())} // encoded by url.Values
	var b bytes.Buffer
	if err := pageTemplates.ExecuteTemplate(&b, "checks.html", data); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(b.Bytes())
}

// checksCSVColumns are the columns of GET /checks.csv.
var checksCSVColumns = []string{"checked-url", "final-status-code", "error", "final-url", "redirect-status-code",
	"redirect-url", "content-type", "charset", "content-length", "last-modified", "etag", "updated", "unreachable-since"}

// handleChecksCSV serves GET /checks.csv: the dashboard's view, every row.
func (s *Server) handleChecksCSV(c *fiber.Ctx) error {
	v, _, err := checksView(c, time.Now())
	if err != nil {
		return err
	}
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	_ = cw.Write(checksCSVColumns)
	for _, r := range s.cfg.Checks.Service.Results(v) {
		rec := make([]string, len(checksCSVColumns))
		for i, k := range checksCSVColumns {
			rec[i] = csvSafe(r[k])
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="link-checks.csv"`)
	return c.Send(b.Bytes())
}

// csvSafe keeps a spreadsheet from taking an upstream header for a
// formula.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
