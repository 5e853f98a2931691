package server

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// handleTabularSwagger answers GET /api/resources/<id>/swagger/: an OpenAPI
// 3.0 document of the resource's data routes that lists, column by column,
// the parameters api-tabular accepts for its type. api-tabular writes it in
// YAML; csvapi writes JSON, which every YAML reader reads too.
func (s *Server) handleTabularSwagger(c *fiber.Ctx) error {
	e, err := s.hold(c)
	if err != nil {
		return err
	}
	return c.JSON(tabularSwagger(c.Params("id"), e.Meta.Columns))
}

// tabularSwagger builds the OpenAPI document of resource rid's data routes.
func tabularSwagger(rid string, cols []convert.Column) fiber.Map {
	params := []fiber.Map{
		{"name": "page", "in": "query", "description": "Specific page (page=value)", "required": false, "schema": fiber.Map{"type": "integer"}, "example": 1},
		{"name": "page_size", "in": "query", "description": "Number of results per page (page_size=value)", "required": false, "schema": fiber.Map{"type": "integer"}, "example": DefaultTabularPageSize},
		{"name": "columns", "in": "query", "description": "Columns to keep in the result (columns=column1,column3,...)", "required": false, "schema": fiber.Map{"type": "string"}, "style": "form", "explode": false},
	}
	param := func(name, desc string, bare bool) fiber.Map {
		p := fiber.Map{"name": name, "in": "query", "description": desc, "required": false, "schema": fiber.Map{"type": "string"}}
		if bare { // is(not)null and aggregators take no value
			p["schema"], p["allowEmptyValue"] = fiber.Map{"type": "boolean"}, true
		}
		return p
	}
	props := fiber.Map{"__id": fiber.Map{"type": "integer"}}
	for _, c := range cols {
		k := c.Kind()
		for _, op := range query.TabularOps(k) {
			bare := op == query.OpIsNull || op == "isnotnull"
			params = append(params, param(c.Name+"__"+string(op), fmt.Sprintf(tabularOpDescriptions[string(op)], c.Name), bare))
		}
		params = append(params, param(c.Name+"__sort", fmt.Sprintf("Sort ascending or descending on column: %[1]s (%[1]s__sort=asc or %[1]s__sort=desc)", c.Name), false))
		params = append(params, param(c.Name+"__groupby", fmt.Sprintf(tabularOpDescriptions["groupby"], c.Name), true))
		for _, fn := range query.TabularAggs(k) {
			params = append(params, param(c.Name+"__"+string(fn), fmt.Sprintf(tabularOpDescriptions[string(fn)], c.Name), true))
		}
		props[c.Name] = fiber.Map{"type": swaggerType(k)}
	}
	errs := fiber.Map{"400": fiber.Map{"description": "Invalid query string"}, "404": fiber.Map{"description": "Resource not found"}}
	op := func(desc, summary, id, media string, schema bool) fiber.Map {
		content := fiber.Map{}
		if schema {
			content[media] = fiber.Map{"schema": fiber.Map{"$ref": "#/components/schemas/ResourceData"}}
		} else {
			content[media] = fiber.Map{}
		}
		responses := fiber.Map{"200": fiber.Map{"description": "successful operation", "content": content}}
		for k, v := range errs {
			responses[k] = v
		}
		return fiber.Map{"get": fiber.Map{"description": desc, "summary": summary, "operationId": id, "responses": responses}, "parameters": params}
	}
	base := "/api/resources/" + rid
	return fiber.Map{
		"openapi": "3.0.3",
		"info": fiber.Map{"title": "Tabular API", "version": "1.0.0",
			"description": "Retrieve data for a specified resource with optional filtering and sorting."},
		"tags": []fiber.Map{{"name": "Data retrieval", "description": "Retrieve data for a specified resource"}},
		"paths": fiber.Map{
			base + "/data/":      op("Returns resource data based on ID as JSON, each row is a dictionnary.", "Get resource data from its ID", "getResourceDataFromId", "application/json", true),
			base + "/data/csv/":  op("Returns resource data based on ID as a CSV file.", "Get resource data from its ID in CSV format", "getResourceDataFromIdCSV", "text/csv", false),
			base + "/data/json/": op("Returns resource data based on ID as a JSON file.", "Get resource data from its ID in JSON format", "getResourceDataFromIdJSON", "application/json", false),
		},
		"components": fiber.Map{"schemas": fiber.Map{
			"ResourceData": fiber.Map{"type": "object", "properties": fiber.Map{
				"data":  fiber.Map{"type": "array", "items": fiber.Map{"$ref": "#/components/schemas/Resource"}},
				"links": fiber.Map{"type": "object", "properties": fiber.Map{"profile": fiber.Map{"type": "string"}, "swagger": fiber.Map{"type": "string"}, "next": fiber.Map{"type": "string", "nullable": true}, "prev": fiber.Map{"type": "string", "nullable": true}}},
				"meta":  fiber.Map{"type": "object", "properties": fiber.Map{"page": fiber.Map{"type": "integer"}, "page_size": fiber.Map{"type": "integer"}, "total": fiber.Map{"type": "integer"}}},
			}},
			"Resource": fiber.Map{"type": "object", "properties": props},
		}},
	}
}

// swaggerType is the JSON Schema type of a column kind in the swagger.
func swaggerType(k convert.Kind) string {
	if n, ok := kindNames[k]; ok {
		return n.schema
	}
	return "string"
}
