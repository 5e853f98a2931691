package assistant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// Error is a tool error as the model sees it: the HTTP API's stable code,
// a message, and a hint saying what to call next. Its Error method returns
// the JSON object that is the tool result's text.
type Error struct {
	Message string `json:"error"`
	Code    string `json:"code"`
	Hint    string `json:"hint,omitempty"`
	Details any    `json:"details,omitempty"`
}

// Error returns e as a JSON object.
func (e *Error) Error() string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // "<=" reads better than "\u003c="
	if err := enc.Encode(e); err != nil {
		return e.Message
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func invalid(param, hint, format string, args ...any) *Error {
	return &Error{Code: "invalid_parameter", Message: param + ": " + fmt.Sprintf(format, args...), Hint: hint,
		Details: map[string]string{"parameter": param}}
}

// Hints shared by several errors.
const (
	hintColumns = "Call describe(id) for the exact column names (case-sensitive) and types."
	hintRetry   = "The table is still being converted: call convert again with the same arguments (it waits for the load), or retry this call in a few seconds."
	hintNarrow  = "Narrow the question (filters, fewer groups) or use export_link for the full data."
)

// ErrorOf maps an error of the domain packages to the model's Error, with
// the same codes as the HTTP API (server/errors.go; a server test checks
// that both agree). Messages of internal errors say nothing of internals.
// An *Error is returned as it is.
func ErrorOf(err error) *Error {
	var e *Error
	var pending *cache.PendingError
	var inv *query.InvalidError
	var opt *convert.OptionError
	var choice *convert.ChoiceError
	var fetch *convert.FetchError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &pending):
		return &Error{Code: "pending", Message: "Table " + pending.ID + " is still being converted.", Hint: hintRetry,
			Details: map[string]string{"id": pending.ID}}
	case errors.Is(err, cache.ErrNotFound):
		return &Error{Code: "not_found", Message: "No table with this id: it was never converted or has been evicted.",
			Hint: "Call convert(url) first and use the id it returns."}
	case errors.As(err, &inv):
		return &Error{Code: "invalid_parameter", Message: inv.Error(), Hint: hintColumns + " Operators: " + opList + ".",
			Details: map[string]string{"parameter": inv.Param}}
	case errors.Is(err, query.ErrInvalid):
		return &Error{Code: "invalid_parameter", Message: err.Error(), Hint: hintColumns}
	case errors.As(err, &opt):
		return &Error{Code: "invalid_parameter", Message: opt.Error(), Hint: "Fix or drop this override; convert detects it by itself.",
			Details: map[string]string{"parameter": opt.Option}}
	case errors.As(err, &choice):
		code := "invalid_parameter"
		if choice.Value == "" {
			code = "several_files"
		}
		return &Error{Code: code, Message: choice.Error(), Hint: "Call convert again with " + choice.Param + " set to one of details.choices.",
			Details: map[string]any{"parameter": choice.Param, "choices": choice.Choices}}
	case errors.Is(err, convert.ErrInvalidURL):
		return &Error{Code: "invalid_url", Message: err.Error(), Hint: "Give an absolute http or https URL of the file itself."}
	case errors.Is(err, convert.ErrForbiddenAddress):
		return &Error{Code: "forbidden_address", Message: "The URL points to an address this service may not reach (loopback, private or link-local network).",
			Hint: "Only files on the public web can be converted; ask the user for a public URL."}
	case errors.Is(err, convert.ErrTooSlow):
		return &Error{Code: "upstream_too_slow", Message: "The upstream server sent the file too slowly: the download was stopped.", Hint: "Retry later."}
	case errors.As(err, &fetch):
		switch {
		case fetch.Status != 0:
			return &Error{Code: "upstream_status", Message: fmt.Sprintf("The upstream server answered HTTP %d.", fetch.Status),
				Hint: "Check the URL with the user; the file may have moved.", Details: map[string]int{"upstream_status": fetch.Status}}
		case errors.Is(err, context.DeadlineExceeded):
			return &Error{Code: "upstream_timeout", Message: "The upstream server did not send the file in time.", Hint: "Retry later."}
		}
		return &Error{Code: "upstream_unreachable", Message: "The upstream server could not be reached.", Hint: "Check the URL's host; retry later."}
	case errors.Is(err, convert.ErrTooLarge):
		return &Error{Code: "too_large", Message: err.Error(), Hint: "This file is over the service's size limit."}
	case errors.Is(err, convert.ErrNotTabular):
		return &Error{Code: "not_tabular", Message: convert.PublicMessage(err.Error()), Hint: "The URL must point to the data file itself (CSV, XLSX, JSON, Parquet…), not to a web page about it."}
	case errors.Is(err, convert.ErrConversionFailed):
		return &Error{Code: "conversion_failed", Message: convert.PublicMessage(err.Error()), Hint: "The file could not be converted within the service's limits."}
	case errors.Is(err, convert.ErrUnreadable):
		return &Error{Code: "unreadable", Message: convert.PublicMessage(err.Error()), Hint: "Try the overrides: delimiter, encoding, header, skip."}
	case errors.Is(err, cache.ErrBusy):
		return &Error{Code: "busy", Message: "Too many conversions are waiting.", Hint: "Retry convert in a minute."}
	case errors.Is(err, cache.ErrClientBusy):
		return &Error{Code: "too_many_loads", Message: "You already have as many conversions running as a client may.",
			Hint: "Wait for a running conversion: call convert again on its URL, then convert this one."}
	case errors.Is(err, cache.ErrInsufficientStorage):
		return &Error{Code: "insufficient_storage", Message: "The server's disk is almost full: new conversions are refused.",
			Hint: "Tables already converted still answer; retry later."}
	case errors.Is(err, cache.ErrConflict):
		return &Error{Code: "conflict", Message: "This content's id is held by a URL's resource.", Hint: "Convert the URL instead."}
	case errors.Is(err, cache.ErrTooManyColumns):
		return &Error{Code: "too_many_columns", Message: "The table has " + err.Error() + ".", Hint: "This file cannot be served."}
	case errors.Is(err, convert.ErrUnsupportedEncoding):
		return &Error{Code: "unsupported_encoding", Message: err.Error(), Hint: "Use encoding utf-8, windows-1252, iso-8859-1 or utf-16, or leave it out."}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: "timeout", Message: "The query took too long and was stopped.", Hint: hintNarrow}
	case errors.Is(err, context.Canceled):
		return &Error{Code: "canceled", Message: "The call was canceled."}
	}
	return &Error{Code: "internal_error", Message: "Internal error.", Hint: "Retry once; if it persists, the administrators have the details in the logs."}
}
