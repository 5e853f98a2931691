package assistant

import (
	"context"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// DescribeInput are describe's arguments.
type DescribeInput struct {
	ID string `json:"id" jsonschema:"table id from convert"`
}

// ColumnSummary is a compact profile of one column.
type ColumnSummary struct {
	Name     string  `json:"name"`
	Type     string  `json:"type"`
	Nulls    int64   `json:"nulls"`
	Distinct int64   `json:"distinct"`
	Approx   bool    `json:"distinct_approx,omitempty"`
	Min      any     `json:"min,omitempty"`
	Max      any     `json:"max,omitempty"`
	Mean     any     `json:"mean,omitempty"`
	Top      [][]any `json:"top,omitempty" jsonschema:"most frequent values as [value, count], most frequent first"`
}

// DescribeOutput is describe's answer.
type DescribeOutput struct {
	ID      string          `json:"id"`
	Title   string          `json:"title,omitempty"`
	URL     string          `json:"url,omitempty"`
	Rows    int64           `json:"rows"`
	Columns []ColumnSummary `json:"columns"`
	Sample  *Sample         `json:"sample"`
	Next    string          `json:"next"`
}

// Sample is the first rows of a table.
type Sample struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// sampleRows is the number of rows describe shows.
const sampleRows = 3

func (s *Service) describe(ctx context.Context, _ *mcp.CallToolRequest, in DescribeInput) (*DescribeOutput, error) {
	e, t, err := s.acquire(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	defer e.Release()
	var tp *query.TableProfile
	var sample *query.Page
	err = s.Limit(ctx, func(ctx context.Context) (err error) {
		if tp, err = query.Profile(ctx, s.cache.ServingDB(), t, query.Request{}); err != nil {
			return err
		}
		sample, err = query.Run(ctx, s.cache.ServingDB(), t, query.Request{Limit: sampleRows, HideRowID: true, HideTotal: true})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &DescribeOutput{ID: e.ID, Title: title(e.Meta), URL: e.Meta.URL, Rows: tp.Rows,
		Sample: &Sample{Columns: sample.Columns, Rows: sample.Rows},
		Next:   "aggregate for counts, sums and rankings; query for rows; filters use the exact column names and values above."}
	if out.Sample.Rows == nil {
		out.Sample.Rows = [][]any{}
	}
	truncateTexts(out.Sample.Rows, s.cfg.MaxText/2)
	for _, c := range tp.Columns {
		out.Columns = append(out.Columns, s.summarize(c, tp.Rows))
	}
	return out, nil
}

// summarize keeps what a model needs of a column profile: top values only
// where they say something (not for unique columns, nor for numbers with
// many distinct values), texts shortened.
func (s *Service) summarize(c query.ColumnProfile, rows int64) ColumnSummary {
	cs := ColumnSummary{Name: c.Name, Type: string(c.Type), Nulls: c.Nulls, Distinct: c.Distinct, Approx: c.DistinctApprox,
		Min: short(c.Min, 60), Max: short(c.Max, 60), Mean: round(c.Mean)}
	numeric := c.Type == convert.KindInteger || c.Type == convert.KindNumber
	unique := c.Distinct >= c.Count && c.Count > 1
	if !unique && (!numeric || c.Distinct <= 20) {
		for i, v := range c.Top {
			if i == DefaultTopValues {
				break
			}
			cs.Top = append(cs.Top, []any{short(v.Value, 60), v.Count})
		}
	}
	if c.Type == convert.KindString || c.Type == convert.KindBoolean {
		// Alphabetical bounds of texts tell a model little.
		cs.Min, cs.Max = nil, nil
	}
	return cs
}

// round keeps 6 significant digits of a float: a mean's 16 digits cost
// tokens and say nothing more.
func round(v any) any {
	if f, ok := v.(float64); ok {
		r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 6, 64), 64)
		return r
	}
	return v
}

func short(v any, max int) any {
	if s, ok := v.(string); ok {
		row := [][]any{{s}}
		truncateTexts(row, max)
		return row[0][0]
	}
	return v
}
