// Package schemacheck validates objects offline against the real CustomResourceDefinitions,
// the way a kube-apiserver does on create: unknown fields are found (and pruned), CRD
// defaults are applied, then the object is checked against its ObjectMeta rules, the
// OpenAPI v3 schema (types, formats, enums, patterns, bounds), embedded resources, list
// types (map keys and set uniqueness) and the CEL x-kubernetes-validations rules.
//
// It is built from the same packages the API server uses (k8s.io/apiextensions-apiserver:
// pkg/apiserver/schema, .../schema/defaulting, .../schema/pruning, .../schema/listtype,
// .../schema/objectmeta, .../schema/cel and pkg/apiserver/validation), so an object it
// accepts is one the API server of the same minor version accepts, without starting one.
// The fuzz tests use it to decide which inputs the API would let through, and to check
// every rendered object against its upstream schema.
//
// What it does not do: admission webhooks and ValidatingAdmissionPolicies (Gateway API
// ships one, vap_safeupgrades.yaml, which is skipped), conversion between versions,
// ratcheting on update, and validation of built-in kinds (Secret, Namespace, ...), for
// which Validate only checks ObjectMeta (see Knows).
package schemacheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metavalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// Checker validates objects of the kinds of the CRDs it loaded.
type Checker struct {
	kinds map[schema.GroupVersionKind]*kind
	// crds names the CRD each kind came from, for messages.
	files map[schema.GroupVersionKind]string
}

// kind is what validating one served version of one CRD needs.
type kind struct {
	gvk             schema.GroupVersionKind
	namespaced      bool
	statusSubresrc  bool
	preserveUnknown bool
	structural      *structuralschema.Structural
	validator       apiservervalidation.SchemaValidator
	cel             *cel.Validator
}

// Load reads every CustomResourceDefinition in the YAML files of dirs (files ending in
// .yaml, .yml or .json; multi-document files are fine; documents of other kinds are
// skipped) and prepares a validator for each served version. Two CRDs defining the same
// group, version and kind are an error.
func Load(dirs ...string) (*Checker, error) {
	c := &Checker{kinds: map[schema.GroupVersionKind]*kind{}, files: map[schema.GroupVersionKind]string{}}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			crds, err := decodeCRDs(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			for _, crd := range crds {
				if err := c.add(crd, path); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
			}
		}
	}
	if len(c.kinds) == 0 {
		return nil, fmt.Errorf("no CustomResourceDefinition found in %s", strings.Join(dirs, ", "))
	}
	return c, nil
}

// AddCRD adds one CRD (for CRDs that are not in files).
func (c *Checker) AddCRD(crd *apiextensionsv1.CustomResourceDefinition) error {
	return c.add(crd, "(added)")
}

func decodeCRDs(b []byte) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	r := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var raw map[string]interface{}
		if err := r.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if raw == nil || raw["kind"] != "CustomResourceDefinition" {
			continue
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, crd); err != nil {
			return nil, err
		}
		// The API server's defaults for CRDs (conversion strategy, ...) do not change
		// validation; only the schema matters here.
		out = append(out, crd)
	}
}

func (c *Checker) add(crd *apiextensionsv1.CustomResourceDefinition, file string) error {
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}
		if prev, dup := c.files[gvk]; dup {
			return fmt.Errorf("%s is defined twice (also in %s)", gvk, prev)
		}
		k := &kind{gvk: gvk, namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped, preserveUnknown: crd.Spec.PreserveUnknownFields}
		subs, err := apihelpers.GetSubresourcesForVersion(crd, v.Name)
		if err != nil {
			return err
		}
		k.statusSubresrc = subs != nil && subs.Status != nil
		val, err := apihelpers.GetSchemaForVersion(crd, v.Name)
		if err != nil {
			return err
		}
		if val != nil && val.OpenAPIV3Schema != nil {
			internal := &apiextensionsinternal.CustomResourceValidation{}
			if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(val, internal, nil); err != nil {
				return fmt.Errorf("%s: converting the schema: %w", gvk, err)
			}
			s, err := structuralschema.NewStructural(internal.OpenAPIV3Schema)
			if err != nil {
				return fmt.Errorf("%s: not a structural schema: %w", gvk, err)
			}
			if errs := structuralschema.ValidateStructural(nil, s); len(errs) > 0 {
				return fmt.Errorf("%s: not a structural schema: %v", gvk, errs.ToAggregate())
			}
			// As the API server does: defaults are pruned of unknown fields once, up front.
			s = s.DeepCopy()
			if err := structuraldefaulting.PruneDefaults(s); err != nil {
				return fmt.Errorf("%s: pruning defaults: %w", gvk, err)
			}
			k.structural = s
			if k.validator, _, err = apiservervalidation.NewSchemaValidator(internal.OpenAPIV3Schema); err != nil {
				return fmt.Errorf("%s: %w", gvk, err)
			}
			// Compiles every CEL rule of the schema (the API server caches the same).
			k.cel = cel.NewValidator(s, true, celconfig.PerCallLimit)
		}
		c.kinds[gvk] = k
		c.files[gvk] = file
	}
	return nil
}

// Knows reports whether a CRD for gvk was loaded.
func (c *Checker) Knows(gvk schema.GroupVersionKind) bool {
	_, ok := c.kinds[gvk]
	return ok
}

// Kinds lists the loaded kinds, sorted.
func (c *Checker) Kinds() []schema.GroupVersionKind {
	out := make([]schema.GroupVersionKind, 0, len(c.kinds))
	for gvk := range c.kinds {
		out = append(out, gvk)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Prune removes, in place, the fields the schema does not know, as the API server does
// before storing an object, and returns their paths (sorted). Under
// fieldValidation=Strict the API server refuses an object with any of them.
func (c *Checker) Prune(obj *unstructured.Unstructured) ([]string, error) {
	k, err := c.kindOf(obj)
	if err != nil {
		return nil, err
	}
	return k.prune(obj), nil
}

func (k *kind) prune(obj *unstructured.Unstructured) []string {
	if k.structural == nil || k.preserveUnknown {
		return nil
	}
	var unknown []string
	if _, _, paths, err := schemaobjectmeta.GetObjectMetaWithOptions(obj.Object, schemaobjectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true}); err == nil {
		unknown = append(unknown, paths...)
	}
	unknown = append(unknown, structuralpruning.PruneWithOptions(obj.Object, k.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(obj.Object, k.structural)
	sort.Strings(unknown)
	return unknown
}

// Default applies the CRD's defaults to obj in place, as the API server does when it
// decodes a request (and again when it reads an object from storage).
func (c *Checker) Default(obj *unstructured.Unstructured) error {
	k, err := c.kindOf(obj)
	if err != nil {
		return err
	}
	if k.structural != nil {
		structuraldefaulting.Default(obj.Object, k.structural)
	}
	return nil
}

// Validate reports what the API server would refuse if obj were created, with the API
// server's field paths and messages. It works on a copy: the object is pruned of unknown
// fields, defaulted, and its status dropped when the CRD has a status subresource (a
// create cannot set it). Unknown fields are reported as errors (type FieldValueForbidden,
// detail "unknown field"), as a request with fieldValidation=Strict would be refused; use
// ValidateLenient to ignore them. A kind without a loaded CRD gets only the ObjectMeta
// checks when it is a built-in kind (empty group or a *.k8s.io group), and an error
// otherwise.
func (c *Checker) Validate(obj *unstructured.Unstructured) field.ErrorList {
	return c.validate(obj, true)
}

// ValidateLenient is Validate without the unknown-field errors: what the API server accepts
// under the default fieldValidation (Warn), where unknown fields are dropped with a warning.
func (c *Checker) ValidateLenient(obj *unstructured.Unstructured) field.ErrorList {
	return c.validate(obj, false)
}

func (c *Checker) validate(in *unstructured.Unstructured, strict bool) field.ErrorList {
	gvk := in.GroupVersionKind()
	k, ok := c.kinds[gvk]
	if !ok {
		if isBuiltin(gvk) {
			return metavalidation.ValidateObjectMetaAccessor(in, in.GetNamespace() != "", metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
		}
		return field.ErrorList{field.NotSupported(field.NewPath("kind"), gvk.String(), c.kindNames())}
	}
	obj, err := normalize(in)
	if err != nil {
		return field.ErrorList{field.Invalid(nil, nil, err.Error())}
	}
	var errs field.ErrorList
	unknown := k.prune(obj)
	if strict {
		for _, p := range unknown {
			errs = append(errs, field.Forbidden(field.NewPath(p), "unknown field"))
		}
	}
	if k.structural != nil {
		structuraldefaulting.Default(obj.Object, k.structural)
	}
	if k.statusSubresrc {
		delete(obj.Object, "status")
	}
	if obj.GetGeneration() == 0 {
		obj.SetGeneration(1)
	}
	return append(errs, k.validateCreate(obj)...)
}

// normalize copies obj as the API server decodes a request: through JSON, integral
// numbers becoming int64 (CEL and the OpenAPI integer checks see int64, never float64 or
// int, whatever the caller built the object from).
func normalize(in *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	b, err := json.Marshal(in.Object)
	if err != nil {
		return nil, fmt.Errorf("the object cannot be encoded as JSON: %w", err)
	}
	out := map[string]interface{}{}
	if err := utiljson.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: out}, nil
}

// validateCreate is customResourceStrategy.Validate of k8s.io/apiextensions-apiserver.
func (k *kind) validateCreate(obj *unstructured.Unstructured) field.ErrorList {
	var errs field.ErrorList
	if obj.GetKind() != k.gvk.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), obj.GetKind(), "must be "+k.gvk.Kind))
	}
	if obj.GetAPIVersion() != k.gvk.GroupVersion().String() {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), obj.GetAPIVersion(), "must be "+k.gvk.GroupVersion().String()))
	}
	if len(errs) > 0 {
		return errs
	}
	ctx := context.Background()
	if k.namespaced && obj.GetNamespace() == "" {
		// A request names its namespace in the URL; an object without one cannot be
		// created as given.
		errs = append(errs, field.Required(field.NewPath("metadata", "namespace"), ""))
	} else {
		errs = append(errs, metavalidation.ValidateObjectMetaAccessor(obj, k.namespaced, metavalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	}
	if !k.namespaced && obj.GetNamespace() != "" {
		// The API server ignores the namespace of a cluster-scoped object.
		obj.SetNamespace("")
	}
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, obj.UnstructuredContent(), k.validator)...)
	if k.structural == nil {
		return errs
	}
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, obj.Object, k.structural, false)...)
	errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, k.structural, obj.Object)...)
	if k.cel != nil {
		if blocked, e := hasBlockingErr(errs); blocked {
			errs = append(errs, e)
		} else {
			celErrs, _ := k.cel.Validate(ctx, nil, k.structural, obj.Object, nil, celconfig.RuntimeCELCostBudget)
			errs = append(errs, celErrs...)
		}
	}
	return errs
}

// hasBlockingErr is the API server's rule: CEL rules are not evaluated on an object with
// errors that make their inputs meaningless.
func hasBlockingErr(errs field.ErrorList) (bool, *field.Error) {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return true, field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return false, nil
}

func (c *Checker) kindOf(obj *unstructured.Unstructured) (*kind, error) {
	k, ok := c.kinds[obj.GroupVersionKind()]
	if !ok {
		return nil, fmt.Errorf("no CustomResourceDefinition loaded for %s", obj.GroupVersionKind())
	}
	return k, nil
}

func (c *Checker) kindNames() []string {
	var out []string
	for _, gvk := range c.Kinds() {
		out = append(out, gvk.String())
	}
	return out
}

// isBuiltin reports whether gvk is a kind the API server serves without a CRD.
func isBuiltin(gvk schema.GroupVersionKind) bool {
	return gvk.Group == "" || strings.HasSuffix(gvk.Group, ".k8s.io") && !strings.HasPrefix(gvk.Group, "gateway.")
}
