package server

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/problem"
)

func (s *Server) handleApify(c *fiber.Ctx) error {
	raw := strings.Clone(c.Query("url"))
	if raw == "" {
		return badRequest(problem.CodeMissingUrl, "Missing url query string variable.")
	}
	if err := validateURL(raw); err != nil {
		return err
	}
	opts, err := s.loadOptions(func(k string) string { return strings.Clone(c.Query(k)) })
	if err != nil {
		return err
	}
	opts.Client = s.clientAddr(c)
	analysis, err := yesNo(c.Query("analysis"), "analysis")
	if err != nil {
		return err
	}
	e, err := s.cache.Apify(c.UserContext(), raw, opts)
	if err != nil {
		return err
	}
	defer e.Release()
	if analysis {
		if err := s.analyze(c, e); err != nil {
			return err
		}
	}
	return s.sendEndpoint(c, e.ID)
}

// analyze makes columns_infos of e's version carry the profile of every
// column (csvapi's analysis=yes): the one /profile without filters
// answers, computed once per version.
func (s *Server) analyze(c *fiber.Ctx, e *cache.Entry) error {
	if s.infos.analysis(e) != nil {
		return nil
	}
	pc, err := s.fullProfile(c.UserContext(), e)
	if err != nil {
		return err
	}
	s.infos.setAnalysis(e, pc.tp)
	return nil
}

// yesNo reads a yes/no parameter; empty is no.
func yesNo(v, name string) (bool, error) {
	switch v {
	case "", "no", "false", "0":
		return false, nil
	case "yes", "true", "1":
		return true, nil
	}
	return false, badRequest(problem.CodeInvalidParameter, "%s must be yes or no, not %q", name, v)
}

// loadOptions reads the options shared by /apify and /upload: conversion
// overrides, sheet and archive member, refresh, and how long to wait.
func (s *Server) loadOptions(get func(string) string) (cache.Options, error) {
	opts, err := parseOverrides(get)
	if err != nil {
		return opts, err
	}
	opts.Wait = s.cfg.ApifyWait
	opts.Sheet, opts.File = get("sheet"), get("file")
	for _, p := range []struct{ name, value string }{{"sheet", opts.Sheet}, {"file", opts.File}} {
		if !convert.ValidChoice(p.value) {
			return opts, &problem.Problem{Status: http.StatusBadRequest, Code: problem.CodeInvalidParameter,
				Message: fmt.Sprintf("Invalid %s parameter: a name of at most 1024 bytes without control characters is expected.", p.name),
				Details: map[string]string{"parameter": p.name}}
		}
	}
	opts.Refresh, err = yesNo(get("refresh"), "refresh")
	return opts, err
}

func (s *Server) handleUpload(c *fiber.Ctx) error {
	fh, err := c.FormFile("file")
	if err != nil {
		fh, err = c.FormFile("filepond")
	}
	if err != nil {
		return badRequest(problem.CodeMissingFile, "Send the file as multipart/form-data in a field named file.")
	}
	if fh.Size > s.cfg.MaxUploadSize {
		return &problem.Problem{Status: http.StatusRequestEntityTooLarge, Code: problem.CodeTooLarge, Message: "The upload is larger than the limit."}
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	opts, err := s.loadOptions(func(k string) string { return strings.Clone(c.FormValue(k, c.Query(k))) })
	if err != nil {
		return err
	}
	opts.Client = s.clientAddr(c)
	e, err := s.cache.Upload(c.UserContext(), f, fh.Filename, opts)
	if err != nil {
		return err
	}
	defer e.Release()
	return s.sendEndpoint(c, e.ID)
}

// parseOverrides reads the conversion overrides (encoding, delimiter, quote,
// escape, header, skip, decimal) with get and validates them all before any
// download, so that a bad value is a 400 naming its parameter.
func parseOverrides(get func(string) string) (cache.Options, error) {
	var o cache.Options
	o.Encoding, o.Delimiter, o.Quote = get("encoding"), get("delimiter"), get("quote")
	o.Header, o.Decimal, o.Escape = get("header"), get("decimal"), get("escape")
	if s := get("skip"); s != "" {
		n, err := convert.ParseSkip(s)
		if err != nil {
			return o, err
		}
		o.Skip, o.SkipSet = n, true
	}
	return o, o.Validate()
}

func (s *Server) sendEndpoint(c *fiber.Ctx, id string) error {
	return c.JSON(fiber.Map{"ok": true, "endpoint": s.baseURL(c) + "/api/" + id})
}

// baseURL is --base-url, or the scheme and host the request came to.
// X-Forwarded-Proto and X-Forwarded-Host are client text unless a reverse
// proxy sets them: they are read only with --proxy-header, and then only a
// scheme of http or https and a plain host[:port] are taken.
func (s *Server) baseURL(c *fiber.Ctx) string {
	if s.cfg.BaseURL != "" {
		return s.cfg.BaseURL
	}
	return string(s.appendBaseURL(nil, c))
}

// appendBaseURL appends baseURL's answer to b, without building strings:
// the response cache puts it in every key.
func (s *Server) appendBaseURL(b []byte, c *fiber.Ctx) []byte {
	if s.cfg.BaseURL != "" {
		return append(b, s.cfg.BaseURL...)
	}
	scheme, host := "http", c.Request().Host()
	if c.Context().IsTLS() {
		scheme = "https"
	}
	if s.cfg.ProxyHeader != "" {
		if p := c.Get(fiber.HeaderXForwardedProto); p == "http" || p == "https" {
			scheme = p
		}
		if h := c.Request().Header.Peek(fiber.HeaderXForwardedHost); validHost(h) {
			host = h
		}
	}
	b = append(b, scheme...)
	b = append(b, "://"...)
	if !validHost(host) {
		return append(b, c.Context().LocalAddr().String()...)
	}
	return append(b, host...)
}

// validHost reports whether h is a host name or address with an optional
// port, and nothing that could change a URL's meaning (/ ? # @ …).
func validHost[T string | []byte](h T) bool {
	if len(h) == 0 || len(h) > 255 {
		return false
	}
	for i := range len(h) { // bytes: every allowed character is ASCII
		switch b := h[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '.', b == '-', b == '_', b == ':', b == '[', b == ']':
		default:
			return false
		}
	}
	return true
}

// validateURL accepts absolute http(s) URLs with a host, as csvapi's
// validators.url does; the fetcher re-checks everything at connect time.
func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return badRequest(problem.CodeInvalidUrl, "Malformed url parameter: an absolute http or https URL is expected.")
	}
	return nil
}
