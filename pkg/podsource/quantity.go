package podsource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"

	"sigs.k8s.io/yaml"
)

// quantityFields are the pod fields whose values are resource.Quantity:
// maps of them (limits, requests, overhead) or single ones.
var quantityFields = map[string]bool{
	"limits": true, "requests": true, "overhead": true, "sizeLimit": true, "divisor": true,
}

// exponent is a quantity's decimal exponent ("5e3", "1E-2").
var exponent = regexp.MustCompile(`^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE]([+-]?[0-9]+)$`)

// maxExponentDigits bounds a quantity's decimal exponent. apimachinery's
// resource.ParseQuantity takes hours on some exponents past the int32 range
// (1e2147483648) and time that grows fast with large negative ones
// (1e-999999999), which would stall every static pod behind the manifest;
// no real quantity comes near 1e±9999.
const maxExponentDigits = 4

// checkQuantities rejects a manifest (YAML or JSON) with a quantity whose
// decimal exponent has more than maxExponentDigits digits, before it is
// decoded. A manifest that is not a document is left to the decoder.
func checkQuantities(data []byte) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil
	}
	return walkQuantities(doc, "", false)
}

func walkQuantities(v any, path string, quantity bool) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if err := walkQuantities(e, path+"."+k, quantity || quantityFields[k]); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := walkQuantities(e, fmt.Sprintf("%s[%d]", path, i), false); err != nil {
				return err
			}
		}
	case string, json.Number:
		s := fmt.Sprint(v)
		if m := exponent.FindStringSubmatch(s); quantity && m != nil {
			digits := m[1]
			if digits[0] == '+' || digits[0] == '-' {
				digits = digits[1:]
			}
			for len(digits) > 1 && digits[0] == '0' {
				digits = digits[1:]
			}
			if len(digits) > maxExponentDigits {
				return fmt.Errorf("%s: quantity %q: exponent out of range", path[1:], s)
			}
		}
	}
	return nil
}
