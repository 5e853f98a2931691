package server

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// Error codes. They are public API: clients (the widget, the pages, data.gouv.fr's
// fronts) branch on them, so a code never changes meaning. classify is the
// one place that maps an error to its status and code.
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

// apiError is an error with the status and stable code clients see.
type apiError struct {
	Status  int
	Code    string
	Message string
	Details any
	// RetryAfter, when set, is sent as the Retry-After header: how long
	// the client should wait before trying again.
	RetryAfter time.Duration
}

func (e *apiError) Error() string { return e.Message }

// badRequest returns a 400 naming what is wrong with the request.
func badRequest(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalidParam returns the 400 of a wrong parameter, named in details.
func invalidParam(param, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: fmt.Sprintf(format, args...),
		Details: map[string]string{"parameter": param}}
}

// notFound returns a 404 with msg.
func notFound(msg string) *apiError {
	return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: msg}
}

// classify maps an error from the domain packages to what the client sees.
// It is the only place that decides statuses. Messages of 4xx errors are
// written for humans; 5xx errors say nothing of internals (the log has them).
func classify(err error) *apiError {
	var ae *apiError
	var fe *fiber.Error
	var fetchErr *convert.FetchError
	var invalid *query.InvalidError
	var optErr *convert.OptionError
	var choice *convert.ChoiceError
	var remembered *cache.RememberedError
	switch {
	case errors.As(err, &remembered):
		return rememberedError(classify(remembered.Err), remembered)
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fe) && fe.Code == http.StatusRequestEntityTooLarge:
		return &apiError{Status: fe.Code, Code: CodeTooLarge,
			Message: "The request body is too large: only POST /upload takes files, as multipart/form-data."}
	case errors.As(err, &fe):
		return &apiError{Status: fe.Code, Code: codeForStatus(fe.Code), Message: fe.Message}
	case errors.Is(err, cache.ErrPending):
		// csvapi's routes answer 202 with the load's status before asking
		// classify; api-tabular's answer this 503.
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodePending,
			Message: "The resource is being converted; retry in a few seconds."}
	case errors.Is(err, cache.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: "Resource not found: it was never converted or has been removed. Call /apify first."}
	case errors.As(err, &invalid):
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: invalid.Error(),
			Details: map[string]string{"parameter": invalid.Param}}
	case errors.Is(err, query.ErrInvalid):
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: err.Error()}
	case errors.As(err, &optErr):
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: capitalize(optErr.Error()) + ".",
			Details: map[string]string{"parameter": optErr.Option}}
	case errors.As(err, &choice):
		return choiceError(choice)
	case errors.Is(err, convert.ErrInvalidURL):
		return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidUrl, Message: err.Error()}
	case errors.Is(err, convert.ErrForbiddenAddress):
		return &apiError{Status: http.StatusForbidden, Code: CodeForbiddenAddress,
			Message: "The URL points to an address this service may not reach (loopback, private or link-local network)."}
	case errors.As(err, &fetchErr) && !errors.Is(err, convert.ErrTooSlow):
		if fetchErr.Status != 0 {
			return &apiError{Status: http.StatusBadGateway, Code: CodeUpstreamStatus,
				Message: fmt.Sprintf("The upstream server answered HTTP %d.", fetchErr.Status),
				Details: map[string]int{"upstream_status": fetchErr.Status}}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return &apiError{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTimeout,
				Message: "The upstream server did not send the file in time."}
		}
		return &apiError{Status: http.StatusBadGateway, Code: CodeUpstreamUnreachable,
			Message: "The upstream server could not be reached."}
	case errors.Is(err, convert.ErrTooLarge):
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: capitalize(err.Error()) + "."}
	case errors.Is(err, convert.ErrNotTabular):
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: CodeNotTabular, Message: contentMessage(err) + "."}
	case errors.Is(err, convert.ErrConversionFailed):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeConversionFailed, Message: contentMessage(err) + "."}
	case errors.Is(err, convert.ErrUnreadable):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeUnreadable, Message: contentMessage(err)}
	case errors.Is(err, convert.ErrTooSlow):
		return &apiError{Status: http.StatusGatewayTimeout, Code: CodeUpstreamTooSlow,
			Message: "The upstream server sent the file too slowly: the download was stopped."}
	case errors.Is(err, cache.ErrBusy):
		return &apiError{Status: http.StatusServiceUnavailable, Code: CodeBusy, RetryAfter: loadRetryAfter,
			Message: "Too many conversions are waiting: retry after the delay in Retry-After."}
	case errors.Is(err, cache.ErrClientBusy):
		return &apiError{Status: http.StatusTooManyRequests, Code: CodeTooManyLoads, RetryAfter: loadRetryAfter,
			Message: "You already have as many conversions running as a client may: retry once one of them is done."}
	case errors.Is(err, cache.ErrInsufficientStorage):
		return &apiError{Status: http.StatusInsufficientStorage, Code: CodeInsufficientStorage, RetryAfter: loadRetryAfter,
			Message: "The server's disk is almost full: new conversions are refused until space is freed. Tables already converted still answer."}
	case errors.Is(err, cache.ErrConflict):
		return &apiError{Status: http.StatusConflict, Code: CodeConflict,
			Message: "This content cannot be uploaded: its id is that of a URL's resource."}
	case errors.Is(err, cache.ErrTooManyColumns):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeTooManyColumns, Message: "The table has " + err.Error() + "."}
	case errors.Is(err, convert.ErrUnsupportedEncoding):
		return &apiError{Status: http.StatusBadRequest, Code: CodeUnsupportedEncoding, Message: capitalize(err.Error()) + "."}
	case errors.Is(err, context.DeadlineExceeded):
		return &apiError{Status: http.StatusGatewayTimeout, Code: CodeTimeout,
			Message: "The request took too long and was stopped. Try narrower filters or the export endpoint."}
	case errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		return &apiError{Status: 499, Code: CodeCanceled, Message: "The request was canceled."}
	default:
		return &apiError{Status: http.StatusInternalServerError, Code: CodeInternalError,
			Message: "Internal error. The administrators can find it in the logs with the request id."}
	}
}

// rememberedError is ae, the answer to a load's failure, when the failure
// comes from the negative cache: the message and details say when it
// happened and when a retry is allowed, and Retry-After carries the wait.
func rememberedError(ae *apiError, r *cache.RememberedError) *apiError {
	out := *ae
	details := map[string]any{}
	switch d := ae.Details.(type) {
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
	out.Message = strings.TrimSuffix(ae.Message, ".") + ". This failure was remembered at " + details["failed_at"].(string) +
		"; a new attempt is made after " + details["retry_at"].(string) + ", or at once with refresh=yes."
	return &out
}

// choiceError answers a load that needs a sheet or file parameter, or got
// one that names nothing: details list the names that can be given.
func choiceError(e *convert.ChoiceError) *apiError {
	details := map[string]any{"parameter": e.Param, "choices": e.Choices}
	if e.Value == "" {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: CodeSeveralFiles,
			Message: capitalize(e.Error()) + ".", Details: details}
	}
	return &apiError{Status: http.StatusBadRequest, Code: CodeInvalidParameter, Message: capitalize(e.Error()) + ".", Details: details}
}

// loadRetryAfter is the delay suggested to clients whose load was refused
// for lack of room: about what a conversion takes.
const loadRetryAfter = 10 * time.Second

// setRetryAfter writes d, rounded up to whole seconds, as Retry-After.
func setRetryAfter(c *fiber.Ctx, d time.Duration) {
	c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
}

// contentMessage is the message of a conversion error, fit for clients:
// capitalized, and cleaned of the SQL, stack traces and paths that
// DuckDB's text may carry.
func contentMessage(err error) string {
	return convert.PublicMessage(capitalize(err.Error()))
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusTooManyRequests:
		return CodeRateLimited
	case http.StatusRequestTimeout:
		return CodeTimeout
	}
	if status >= 500 {
		return CodeInternalError
	}
	return CodeBadRequest
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	if c := s[0]; 'a' <= c && c <= 'z' {
		return string(c-'a'+'A') + s[1:]
	}
	return s
}
