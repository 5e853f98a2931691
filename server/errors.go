package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/problem"
)

// badRequest returns a 400 naming what is wrong with the request.
func badRequest(code, format string, args ...any) *problem.Problem {
	return &problem.Problem{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// invalidParam returns the 400 of a wrong parameter, named in details.
func invalidParam(param, format string, args ...any) *problem.Problem {
	return &problem.Problem{Status: http.StatusBadRequest, Code: problem.CodeInvalidParameter, Message: fmt.Sprintf(format, args...),
		Details: map[string]string{"parameter": param}}
}

// notFound returns a 404 with msg.
func notFound(msg string) *problem.Problem {
	return &problem.Problem{Status: http.StatusNotFound, Code: problem.CodeNotFound, Message: msg}
}

// classify maps an error to what the client sees: errors of the framework
// here, those of the domain packages in problem.Of.
func classify(err error) *problem.Problem {
	var fe *fiber.Error
	var p *problem.Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &fe) && fe.Code == http.StatusRequestEntityTooLarge:
		return &problem.Problem{Status: fe.Code, Code: problem.CodeTooLarge,
			Message: "The request body is too large: only POST /upload takes files, as multipart/form-data."}
	case errors.As(err, &fe):
		return &problem.Problem{Status: fe.Code, Code: codeForStatus(fe.Code), Message: fe.Message}
	}
	return problem.Of(err)
}

// setRetryAfter writes d, rounded up to whole seconds, as Retry-After.
func setRetryAfter(c *fiber.Ctx, d time.Duration) {
	c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
}

// statusCodes are the codes of the framework's own errors, by status.
var statusCodes = map[int]string{
	http.StatusNotFound:              problem.CodeNotFound,
	http.StatusMethodNotAllowed:      problem.CodeMethodNotAllowed,
	http.StatusRequestEntityTooLarge: problem.CodeTooLarge,
	http.StatusForbidden:             problem.CodeForbidden,
	http.StatusTooManyRequests:       problem.CodeRateLimited,
	http.StatusRequestTimeout:        problem.CodeTimeout,
}

// codeForStatus is the code of a framework error of this status.
func codeForStatus(status int) string {
	if code, ok := statusCodes[status]; ok {
		return code
	}
	if status >= 500 {
		return problem.CodeInternalError
	}
	return problem.CodeBadRequest
}
