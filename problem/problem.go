// Package problem decides what a client is told of an error of the domain
// packages (cache, convert, query): the HTTP status, the stable code, a
// message fit for clients, details and Retry-After. The HTTP API (server)
// and the MCP tools (assistant) both answer from it, so that one error has
// one code and one message wherever it is seen.
package problem

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// Error codes. They are public API: clients (the widget, the pages, data.gouv.fr's
// fronts, assistants over MCP) branch on them, so a code never changes meaning.
const (
	CodeBadRequest          = "bad_request"          // a request the server cannot read (other 4xx)
	CodeBusy                = "busy"                 // every query slot stayed taken, or the load queue is full (503)
	CodeCanceled            = "canceled"             // the client went away (499, never read)
	CodeConflict            = "conflict"             // an upload whose id is a URL's (409)
	CodeConversionFailed    = "conversion_failed"    // the conversion worker crashed or outgrew its limits (422)
	CodeForbidden           = "forbidden"            // 403 from the framework
	CodeForbiddenAddress    = "forbidden_address"    // the URL points to a private or loopback address (403)
	CodeForbiddenReferrer   = "forbidden_referrer"   // the Referer is not allowed (403)
	CodeInsufficientStorage = "insufficient_storage" // the cache disk is below --min-free-disk: new loads refused (507)
	CodeInternalError       = "internal_error"       // a bug or a database failure; the log has it (500)
	CodeInvalidParameter    = "invalid_parameter"    // a query-string parameter is wrong; details.parameter names it (400)
	CodeInvalidUrl          = "invalid_url"          // the url parameter is not an absolute http(s) URL (400)
	CodeMethodNotAllowed    = "method_not_allowed"   // 405
	CodeMissingFile         = "missing_file"         // POST /upload without a file (400)
	CodeMissingUrl          = "missing_url"          // /apify without url (400)
	CodeNotFound            = "not_found"            // unknown resource or route (404)
	CodeNotTabular          = "not_tabular"          // the file is not a table (415)
	CodePending             = "pending"              // the resource is still being converted (202 on csvapi routes, 503 on api-tabular routes)
	CodeRateLimited         = "rate_limited"         // too many requests from this client (429)
	CodeSeveralFiles        = "several_files"        // an archive or workbook needs file= or sheet= (422)
	CodeTimeout             = "timeout"              // the query ran past --query-timeout (504)
	CodeTooLarge            = "too_large"            // the file or upload exceeds the limit (413)
	CodeTooManyColumns      = "too_many_columns"     // the table has more columns than allowed (422)
	CodeTooManyLoads        = "too_many_loads"       // this client has --max-client-loads conversions running (429)
	CodeUnauthorized        = "unauthorized"         // an admin route without the token (401)
	CodeUnreadable          = "unreadable"           // the file could not be parsed (422)
	CodeUnsupportedEncoding = "unsupported_encoding" // encoding= names no known encoding (400)
	CodeUpstreamStatus      = "upstream_status"      // the upstream server answered an HTTP error (502)
	CodeUpstreamTimeout     = "upstream_timeout"     // the upstream server was too slow (504)
	CodeUpstreamTooSlow     = "upstream_too_slow"    // the download fell below --min-download-rate (504)
	CodeUpstreamUnreachable = "upstream_unreachable" // the upstream server could not be reached (502)
)

// Problem is an error with the status and stable code clients see.
type Problem struct {
	Status  int
	Code    string
	Message string
	Details any
	// RetryAfter, when set, is sent as the Retry-After header: how long
	// the client should wait before trying again.
	RetryAfter time.Duration
}

func (p *Problem) Error() string { return p.Message }

// LoadRetryAfter is the delay suggested to clients whose load was refused
// for lack of room: about what a conversion takes.
const LoadRetryAfter = 10 * time.Second

// Of maps an error of the domain packages to what a client is told. It is
// the only place that decides codes and statuses; it never returns nil.
// Messages of 4xx problems are written for humans; 5xx ones say nothing of
// internals (the log has them). A *Problem in err's chain is returned as it is.
func Of(err error) *Problem {
	var p *Problem
	var fetchErr *convert.FetchError
	var invalid *query.InvalidError
	var optErr *convert.OptionError
	var choice *convert.ChoiceError
	var remembered *cache.RememberedError
	switch {
	case errors.As(err, &remembered):
		return rememberedProblem(Of(remembered.Err), remembered)
	case errors.As(err, &p):
		return p
	case errors.Is(err, cache.ErrPending):
		// csvapi's routes answer 202 with the load's status before asking;
		// api-tabular's answer this 503.
		return &Problem{Status: http.StatusServiceUnavailable, Code: CodePending,
			Message: "The resource is being converted; retry in a few seconds."}
	case errors.Is(err, cache.ErrNotFound):
		return &Problem{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: "Resource not found: it was never converted or has been removed. Call /apify first."}
	case errors.As(err, &invalid):
		return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: invalid.Error(),
			Details: map[string]string{"parameter": invalid.Param}}
	case errors.Is(err, query.ErrInvalid):
		return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: err.Error()}
	case errors.As(err, &optErr):
		return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: Capitalize(optErr.Error()) + ".",
			Details: map[string]string{"parameter": optErr.Option}}
	case errors.As(err, &choice):
		return choiceProblem(choice)
	case errors.Is(err, convert.ErrInvalidURL):
		return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidUrl, Message: err.Error()}
	case errors.Is(err, convert.ErrForbiddenAddress):
		return &Problem{Status: http.StatusForbidden, Code: CodeForbiddenAddress,
			Message: "The URL points to an address this service may not reach (loopback, private or link-local network)."}
	case errors.As(err, &fetchErr) && !errors.Is(err, convert.ErrTooSlow):
		if fetchErr.Status != 0 {
			return &Problem{Status: http.StatusBadGateway, Code: CodeUpstreamStatus,
				Message: fmt.Sprintf("The upstream server answered HTTP %d.", fetchErr.Status),
				Details: map[string]int{"upstream_status": fetchErr.Status}}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return &Problem{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout,
				Message: "The upstream server did not send the file in time."}
		}
		return &Problem{Status: http.StatusBadGateway, Code: CodeUpstreamUnreachable,
			Message: "The upstream server could not be reached."}
	case errors.Is(err, convert.ErrTooLarge):
		return &Problem{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: Capitalize(err.Error()) + "."}
	case errors.Is(err, convert.ErrNotTabular):
		return &Problem{Status: http.StatusUnsupportedMediaType, Code: CodeNotTabular, Message: contentMessage(err) + "."}
	case errors.Is(err, convert.ErrConversionFailed):
		return &Problem{Status: http.StatusUnprocessableEntity, Code: CodeConversionFailed, Message: contentMessage(err) + "."}
	case errors.Is(err, convert.ErrUnreadable):
		return &Problem{Status: http.StatusUnprocessableEntity, Code: CodeUnreadable, Message: contentMessage(err)}
	case errors.Is(err, convert.ErrTooSlow):
		return &Problem{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTooSlow,
			Message: "The upstream server sent the file too slowly: the download was stopped."}
	case errors.Is(err, cache.ErrBusy):
		return &Problem{Status: http.StatusServiceUnavailable, Code: CodeBusy, RetryAfter: LoadRetryAfter,
			Message: "Too many conversions are waiting: retry after the delay in Retry-After."}
	case errors.Is(err, cache.ErrClientBusy):
		return &Problem{Status: http.StatusTooManyRequests, Code: CodeTooManyLoads, RetryAfter: LoadRetryAfter,
			Message: "You already have as many conversions running as a client may: retry once one of them is done."}
	case errors.Is(err, cache.ErrInsufficientStorage):
		return &Problem{Status: http.StatusInsufficientStorage, Code: CodeInsufficientStorage, RetryAfter: LoadRetryAfter,
			Message: "The server's disk is almost full: new conversions are refused until space is freed. Tables already converted still answer."}
	case errors.Is(err, cache.ErrConflict):
		return &Problem{Status: http.StatusConflict, Code: CodeConflict,
			Message: "This content cannot be uploaded: its id is that of a URL's resource."}
	case errors.Is(err, cache.ErrTooManyColumns):
		return &Problem{Status: http.StatusUnprocessableEntity, Code: CodeTooManyColumns, Message: "The table has " + err.Error() + "."}
	case errors.Is(err, convert.ErrUnsupportedEncoding):
		return &Problem{Status: http.StatusBadRequest, Code: CodeUnsupportedEncoding, Message: Capitalize(err.Error()) + "."}
	case errors.Is(err, context.DeadlineExceeded):
		return &Problem{Status: http.StatusGatewayTimeout, Code: CodeTimeout,
			Message: "The request took too long and was stopped. Try narrower filters or the export endpoint."}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return &Problem{Status: 499, Code: CodeCanceled, Message: "The request was canceled."}
	default:
		return &Problem{Status: http.StatusInternalServerError, Code: CodeInternalError,
			Message: "Internal error. The administrators can find it in the logs with the request id."}
	}
}

// rememberedProblem is p, the answer to a load's failure, when the failure
// comes from the negative cache: the message and details say when it
// happened and when a retry is allowed, and Retry-After carries the wait.
func rememberedProblem(p *Problem, r *cache.RememberedError) *Problem {
	out := *p
	details := map[string]any{}
	switch d := p.Details.(type) {
	case map[string]any:
		maps.Copy(details, d)
	case map[string]string:
		for k, v := range d {
			details[k] = v
		}
	case map[string]int:
		for k, v := range d {
			details[k] = v
		}
	}
	details["failed_at"] = r.At.UTC().Format(time.RFC3339)
	details["retry_at"] = r.RetryAt.UTC().Format(time.RFC3339)
	out.Details = details
	out.RetryAfter = max(time.Until(r.RetryAt), time.Second)
	out.Message = strings.TrimSuffix(p.Message, ".") + ". This failure was remembered at " + details["failed_at"].(string) +
		"; a new attempt is made after " + details["retry_at"].(string) + ", or at once with refresh=yes."
	return &out
}

// choiceProblem answers a load that needs a sheet or file parameter, or got
// one that names nothing: details list the names that can be given.
func choiceProblem(e *convert.ChoiceError) *Problem {
	details := map[string]any{"parameter": e.Param, "choices": e.Choices}
	if e.Value == "" {
		return &Problem{Status: http.StatusUnprocessableEntity, Code: CodeSeveralFiles,
			Message: Capitalize(e.Error()) + ".", Details: details}
	}
	return &Problem{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: Capitalize(e.Error()) + ".", Details: details}
}

// contentMessage is the message of a conversion error, fit for clients:
// capitalized, and cleaned of the SQL, stack traces and paths that
// DuckDB's text may carry.
func contentMessage(err error) string {
	return convert.PublicMessage(Capitalize(err.Error()))
}

// Capitalize returns s with its first letter, when ASCII, in upper case.
func Capitalize(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; 'a' <= c && c <= 'z' {
		return string(c-'a'+'A') + s[1:]
	}
	return s
}
