package server

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/query"
)

// DefaultPageSize is csvapi's default _size.
const DefaultPageSize = 100

// pageParams are the parsed query-string parameters of a data request.
type pageParams struct {
	req     query.Request
	objects bool // _shape=objects
}

// operators maps the filter suffixes of csvapi to query operators.
var operators = map[string]query.Op{
	"exact":    query.OpExact,
	"contains": query.OpContains,
	"less":     query.OpLess,
	"greater":  query.OpGreater,
}

// parsePageParams reads and validates the whole query string once. Values
// from fiber are copied: the request's buffers are reused after the handler
// returns. maxSize bounds _size; 0 means no bound.
func parsePageParams(c *fiber.Ctx, maxSize int) (pageParams, error) {
	p := pageParams{req: query.Request{Limit: DefaultPageSize}}
	var err error
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err != nil {
			return
		}
		err = p.set(string(k), string(v), maxSize)
	})
	return p, err
}

func (p *pageParams) set(key, value string, maxSize int) error {
	switch key {
	case "_size":
		n, err := nonNegative(key, value)
		if err != nil {
			return err
		}
		if maxSize > 0 && n > maxSize {
			return badRequest("invalid_parameter",
				"_size must be at most %d; use the /export endpoint to get every row", maxSize)
		}
		p.req.Limit = n
	case "_offset":
		n, err := nonNegative(key, value)
		if err != nil {
			return err
		}
		p.req.Offset = n
	case "_sort", "_sort_desc":
		if value == "" {
			return badRequest("invalid_parameter", "%s needs a column name", key)
		}
		p.req.Sort = append(p.req.Sort, query.Sort{Column: value, Desc: key == "_sort_desc"})
	case "_shape":
		switch value {
		case "lists":
			p.objects = false
		case "objects":
			p.objects = true
		default:
			return badRequest("invalid_parameter", "_shape must be lists or objects, not %q", value)
		}
	case "_rowid":
		p.req.HideRowID = value == "hide"
	case "_total":
		p.req.HideTotal = value == "hide"
	default:
		// Column names may themselves contain "__": the operator is what
		// follows the last one.
		i := strings.LastIndex(key, "__")
		if i <= 0 {
			return nil // not a filter: ignored, as csvapi does (cache busters, tracking tags)
		}
		op, ok := operators[key[i+2:]]
		if !ok {
			return badRequest("invalid_parameter", "%s: unknown filter operator %q (known: exact, contains, less, greater)", key, key[i+2:])
		}
		p.req.Filters = append(p.req.Filters, query.Filter{Column: key[:i], Op: op, Value: value})
	}
	return nil
}

func nonNegative(key, value string) (int, error) {
	n, err := strconv.Atoi(value)
	if err != nil || n < 0 {
		return 0, badRequest("invalid_parameter", "%s must be a non-negative integer, not %q", key, value)
	}
	return n, nil
}
