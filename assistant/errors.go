package assistant

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/problem"
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
	return &Error{Code: problem.CodeInvalidParameter, Message: param + ": " + fmt.Sprintf(format, args...), Hint: hint,
		Details: map[string]string{"parameter": param}}
}

// Hints shared by several errors.
const (
	hintColumns = "Call describe(id) for the exact column names (case-sensitive) and types."
	hintRetry   = "The table is still being converted: call convert again with the same arguments (it waits for the load), or retry this call in a few seconds."
	hintNarrow  = "Narrow the question (filters, fewer groups) or use export_link for the full data."
)

// ErrorOf maps an error to the model's Error: the code, message and details
// the HTTP API gives (problem.Of decides them for both), reworded where the
// HTTP wording names routes or headers, with a hint saying what to call
// next. Messages of internal errors say nothing of internals. An *Error is
// returned as it is.
func ErrorOf(err error) *Error {
	var e *Error
	var pending *cache.PendingError
	if errors.As(err, &e) {
		return e
	}
	if errors.As(err, &pending) {
		return &Error{Code: problem.CodePending, Message: "Table " + pending.ID + " is still being converted.", Hint: hintRetry,
			Details: map[string]string{"id": pending.ID}}
	}
	p := problem.Of(err)
	out := &Error{Code: p.Code, Message: p.Message, Details: p.Details, Hint: hintOf(err, p.Code)}
	if w, ok := forModel[p.Code]; ok && w.message != "" {
		out.Message = w.message
	}
	return out
}

// hintOf says what the model should do about err, whose code is code.
func hintOf(err error, code string) string {
	var opt *convert.OptionError
	var choice *convert.ChoiceError
	switch {
	case errors.As(err, &opt):
		return "Fix or drop this override; convert detects it by itself."
	case errors.As(err, &choice):
		return "Call convert again with " + choice.Param + " set to one of details.choices."
	}
	return forModel[code].hint
}

// forModel holds, per code, the message that replaces the HTTP one (when
// set) and the hint.
var forModel = map[string]struct{ message, hint string }{
	problem.CodePending:             {"", hintRetry},
	problem.CodeNotFound:            {"No table with this id: it was never converted or has been evicted.", "Call convert(url) first and use the id it returns."},
	problem.CodeInvalidParameter:    {"", hintColumns + " Operators: " + opList + "."},
	problem.CodeInvalidUrl:          {"", "Give an absolute http or https URL of the file itself."},
	problem.CodeForbiddenAddress:    {"", "Only files on the public web can be converted; ask the user for a public URL."},
	problem.CodeUpstreamTooSlow:     {"", "Retry later."},
	problem.CodeUpstreamStatus:      {"", "Check the URL with the user; the file may have moved."},
	problem.CodeUpstreamTimeout:     {"", "Retry later."},
	problem.CodeUpstreamUnreachable: {"", "Check the URL's host; retry later."},
	problem.CodeTooLarge:            {"", "This file is over the service's size limit."},
	problem.CodeNotTabular:          {"", "The URL must point to the data file itself (CSV, XLSX, JSON, Parquet…), not to a web page about it."},
	problem.CodeConversionFailed:    {"", "The file could not be converted within the service's limits."},
	problem.CodeUnreadable:          {"", "Try the overrides: delimiter, encoding, header, skip."},
	problem.CodeSeveralFiles:        {"", "Call convert again with sheet or file set to one of details.choices."},
	problem.CodeBusy:                {"Too many conversions are waiting.", "Retry convert in a minute."},
	problem.CodeTooManyLoads:        {"", "Wait for a running conversion: call convert again on its URL, then convert this one."},
	problem.CodeInsufficientStorage: {"", "Tables already converted still answer; retry later."},
	problem.CodeConflict:            {"This content's id is held by a URL's resource.", "Convert the URL instead."},
	problem.CodeTooManyColumns:      {"", "This file cannot be served."},
	problem.CodeUnsupportedEncoding: {"", "Use encoding utf-8, windows-1252, iso-8859-1 or utf-16, or leave it out."},
	problem.CodeTimeout:             {"The query took too long and was stopped.", hintNarrow},
	problem.CodeCanceled:            {"The call was canceled.", ""},
	problem.CodeInternalError:       {"Internal error.", "Retry once; if it persists, the administrators have the details in the logs."},
}
