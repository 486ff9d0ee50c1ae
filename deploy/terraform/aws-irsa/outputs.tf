output "role_arn" {
  description = "ARN of the gateway's IAM role: the value of the eks.amazonaws.com/role-arn annotation on the service account."
  value       = aws_iam_role.llmproxy.arn
}

output "role_name" {
  description = "Name of the gateway's IAM role."
  value       = aws_iam_role.llmproxy.name
}

output "service_account_annotations" {
  description = "Annotations for the gateway's Kubernetes service account (deploy/kubernetes/base/serviceaccount.yaml)."
  value = {
    "eks.amazonaws.com/role-arn" = aws_iam_role.llmproxy.arn
  }
}

output "trusted_subject" {
  description = "The only Kubernetes service account that can assume the role."
  value       = local.subject
}
