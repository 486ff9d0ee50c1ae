variable "oidc_provider_arn" {
  description = "ARN of the EKS cluster's IAM OIDC provider, e.g. arn:aws:iam::111111111111:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE (the terraform-aws-modules/eks module outputs it as oidc_provider_arn)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/[^*?]+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be an IAM OIDC provider ARN (arn:aws:iam::<account>:oidc-provider/<issuer host and path>)."
  }
}

variable "namespace" {
  description = "Kubernetes namespace of the gateway's service account (deploy/kubernetes uses llm)."
  type        = string
  default     = "llm"
}

variable "service_account" {
  description = "Name of the gateway's Kubernetes service account (deploy/kubernetes uses llmproxy)."
  type        = string
  default     = "llmproxy"
}

variable "role_name" {
  description = "Name of the IAM role the gateway's pods assume."
  type        = string
  default     = "llmproxy"
}

variable "bedrock_model_arns" {
  description = "The Bedrock models the gateway may invoke: foundation-model ARNs (arn:aws:bedrock:<region>::foundation-model/<model id>) and inference-profile ARNs (arn:aws:bedrock:<region>:<account>:inference-profile/<profile id>). A cross-region inference profile needs its own ARN and the foundation-model ARN in every region it routes to. No wildcards."
  type        = list(string)

  validation {
    condition     = length(var.bedrock_model_arns) > 0
    error_message = "bedrock_model_arns must name at least one model or inference profile."
  }

  validation {
    condition     = alltrue([for arn in var.bedrock_model_arns : can(regex("^arn:aws[a-z-]*:bedrock:[a-z0-9-]+:([0-9]{12})?:(foundation-model|inference-profile|application-inference-profile|provisioned-model|custom-model|imported-model)/[^*?]+$", arn))])
    error_message = "Each entry of bedrock_model_arns must be a Bedrock model or inference-profile ARN without wildcards (* or ?)."
  }
}

variable "secretsmanager_secret_arns" {
  description = "Secrets Manager secrets the gateway reads with $${aws-sm:...} references (full ARNs; the random 6-character suffix may be written as -??????). Empty: no Secrets Manager policy is created."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.secretsmanager_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[^*]+$", arn))])
    error_message = "Each entry of secretsmanager_secret_arns must be a Secrets Manager secret ARN without *."
  }
}

variable "secrets_kms_key_arns" {
  description = "Customer-managed KMS keys that encrypt those secrets (kms:Decrypt, only through Secrets Manager). Empty for secrets under the AWS-managed key."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.secrets_kms_key_arns : can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", arn))])
    error_message = "Each entry of secrets_kms_key_arns must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>)."
  }
}

variable "max_session_duration" {
  description = "Longest session (seconds) the role's credentials last; the gateway refreshes them before they expire."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary policy to attach to the role, if your account requires one."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags for the IAM role."
  type        = map(string)
  default     = {}
}
