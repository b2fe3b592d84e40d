package v1alpha1

// Condition types shared by AnycastClass and AnycastIngress.
const (
	// ConditionAccepted is True when the object is valid against everything the schema cannot
	// see (the class exists, the namespace is allowed, the address is free and in a pool,
	// every member's MetalLB mode supports what is asked).
	ConditionAccepted = "Accepted"
	// ConditionReady is the summary condition: True when the object does what it asks.
	ConditionReady = "Ready"
)

// SecretKeyReference names one key of a Secret in the operator's namespace on the hub
// cluster. The operator never logs or prints the value.
type SecretKeyReference struct {
	// name of the Secret, in the namespace the operator runs in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// key within the Secret's data. Each reference documents its own default.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}
