package schema

import "github.com/hookbridge/hookbridge/bridge/policy"

// ResolveLocal follows a reference within one schema document: "#" is the document itself, and
// "#/a/b~1c" follows object keys ("~1" and "~0" unescaped). It reports false when the reference is
// of another form (an anchor such as "#foo", another document), when a key is missing, or when the
// path goes through anything but a JSON object (array indexes are not followed).
func ResolveLocal(root any, ref string) (any, bool) {
	if ref != "#" && (len(ref) < 2 || ref[:2] != "#/") {
		return nil, false
	}
	cur := root
	for _, tok := range policy.SplitPointer(ref[1:]) {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}
