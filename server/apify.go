package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
)

func (s *Server) handleApify(c *fiber.Ctx) error {
	raw := strings.Clone(c.Query("url"))
	if raw == "" {
		return badRequest("missing_url", "Missing url query string variable.")
	}
	if err := validateURL(raw); err != nil {
		return err
	}
	opts, err := s.options(c.Query)
	if err != nil {
		return err
	}
	e, err := s.cache.Apify(c.UserContext(), raw, opts)
	if err != nil {
		return err
	}
	defer e.Release()
	return s.sendEndpoint(c, e.ID)
}

// options reads the conversion options shared by /apify and /upload
// (encoding, sheet, file, refresh), copied: fiber reuses its buffers.
func (s *Server) options(get func(string, ...string) string) (cache.Options, error) {
	opts := cache.Options{Encoding: strings.Clone(get("encoding")), Wait: s.cfg.ApifyWait,
		Sheet: strings.Clone(get("sheet")), File: strings.Clone(get("file"))}
	if opts.Encoding != "" {
		if _, _, err := convert.LookupEncoding(opts.Encoding); err != nil {
			return opts, err
		}
	}
	for _, p := range []struct{ name, value string }{{"sheet", opts.Sheet}, {"file", opts.File}} {
		if !convert.ValidChoice(p.value) {
			return opts, &apiError{Status: http.StatusBadRequest, Code: "invalid_parameter",
				Message: fmt.Sprintf("Invalid %s parameter: a name of at most 1024 bytes without control characters is expected.", p.name),
				Details: map[string]string{"parameter": p.name}}
		}
	}
	switch r := get("refresh"); r {
	case "", "no", "false", "0":
	case "yes", "true", "1":
		opts.Refresh = true
	default:
		return opts, badRequest("invalid_parameter", "refresh must be yes or no, not %q", r)
	}
	return opts, nil
}

func (s *Server) handleUpload(c *fiber.Ctx) error {
	fh, err := c.FormFile("file")
	if err != nil {
		fh, err = c.FormFile("filepond")
	}
	if err != nil {
		return badRequest("missing_file", "Send the file as multipart/form-data in a field named file.")
	}
	if fh.Size > s.cfg.MaxUploadSize {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "The upload is larger than the limit."}
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	opts, err := s.options(func(key string, _ ...string) string { return c.FormValue(key, c.Query(key)) })
	if err != nil {
		return err
	}
	e, err := s.cache.Upload(c.UserContext(), f, fh.Filename, opts)
	if err != nil {
		return err
	}
	defer e.Release()
	return s.sendEndpoint(c, e.ID)
}

func (s *Server) sendEndpoint(c *fiber.Ctx, id string) error {
	return c.JSON(fiber.Map{"ok": true, "endpoint": s.baseURL(c) + "/api/" + id})
}

// baseURL is --base-url, or the scheme and host the request came to.
func (s *Server) baseURL(c *fiber.Ctx) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	return c.Protocol() + "://" + string(c.Request().Host())
}

// validateURL accepts absolute http(s) URLs with a host, as csvapi's
// validators.url does; the fetcher re-checks everything at connect time.
func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return badRequest("invalid_url", "Malformed url parameter: an absolute http or https URL is expected.")
	}
	return nil
}
