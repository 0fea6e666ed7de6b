package verify

import (
	"errors"
	"net/url"
	"sort"
	"strings"
)

// maxFormParams bounds the parameters of a form body a recipe signs.
const maxFormParams = 1000

var errNotForm = errors.New("the body is not a form (application/x-www-form-urlencoded)")

// formString returns what Twilio signs of a form body: its parameters, form-decoded, sorted by
// name in byte order, each written as name then value; a name given several times contributes
// each of its distinct values, sorted (twilio-python: sorted(set(values))). An empty body has no
// parameters.
func formString(body []byte) (string, error) {
	if len(body) == 0 {
		return "", nil
	}
	params := map[string][]string{}
	n := 0
	for item := range strings.SplitSeq(string(body), "&") {
		if item == "" {
			continue
		}
		if n++; n > maxFormParams {
			return "", errNotForm
		}
		k, v, _ := strings.Cut(item, "=")
		name, err1 := url.QueryUnescape(k)
		value, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			return "", errNotForm
		}
		params[name] = append(params[name], value)
	}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.Grow(len(body))
	for _, k := range names {
		vals := params[k]
		sort.Strings(vals)
		for i, v := range vals {
			if i > 0 && vals[i-1] == v {
				continue
			}
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return b.String(), nil
}
