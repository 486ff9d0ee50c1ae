# IAM role for the llm-proxy-auth gateway on EKS through IRSA (IAM roles for service accounts):
# only the gateway's Kubernetes service account can assume it, and it may invoke only the chosen
# Bedrock models and read only the listed secrets.

locals {
  # The issuer as IAM names it in condition keys: the provider ARN without its
  # "arn:aws:iam::<account>:oidc-provider/" prefix (oidc.eks.<region>.amazonaws.com/id/<id>).
  oidc_issuer = element(split(":oidc-provider/", var.oidc_provider_arn), 1)
  subject     = "system:serviceaccount:${var.namespace}:${var.service_account}"
}

# Trust: AssumeRoleWithWebIdentity with a token the cluster issued to this one service account
# (sub) for STS (aud). Without the aud condition any token of that subject, whatever its
# audience, would do; without sub, every service account of the cluster could assume the role.
data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "GatewayServiceAccount"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = [local.subject]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "llmproxy" {
  name                 = var.role_name
  description          = "llm-proxy-auth gateway (${local.subject})"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# Inference on the chosen models only. AWS authorises Converse and ConverseStream through
# bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream; the Converse names are listed
# too so the policy reads like the APIs the gateway calls. CountTokens (Claude Code counts its
# prompts) and GetInferenceProfile are allowed on the same ARNs. No listing
# (ListFoundationModels and ListInferenceProfiles need Resource "*"): the gateway's
# /foundation-models and /inference-profiles list pass-throughs are then refused by AWS.
data "aws_iam_policy_document" "bedrock" {
  statement {
    sid    = "InvokeChosenModels"
    effect = "Allow"
    actions = [
      "bedrock:InvokeModel",
      "bedrock:InvokeModelWithResponseStream",
      "bedrock:Converse",
      "bedrock:ConverseStream",
      "bedrock:CountTokens",
      "bedrock:GetInferenceProfile",
    ]
    resources = var.bedrock_model_arns
  }
}

resource "aws_iam_role_policy" "bedrock" {
  name   = "bedrock-invoke"
  role   = aws_iam_role.llmproxy.id
  policy = data.aws_iam_policy_document.bedrock.json
}

# Optional: read the secrets behind ${aws-sm:...} references (the gateway calls only
# GetSecretValue). Created only when secretsmanager_secret_arns is not empty.
data "aws_iam_policy_document" "secrets" {
  count = length(var.secretsmanager_secret_arns) > 0 ? 1 : 0

  statement {
    sid       = "ReadGatewaySecrets"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = var.secretsmanager_secret_arns
  }
}

resource "aws_iam_role_policy" "secrets" {
  count = length(var.secretsmanager_secret_arns) > 0 ? 1 : 0

  name   = "secretsmanager-read"
  role   = aws_iam_role.llmproxy.id
  policy = data.aws_iam_policy_document.secrets[0].json
}

# Optional: decrypt those secrets when a customer-managed KMS key encrypts them, and only when
# Secrets Manager asks on the gateway's behalf.
data "aws_iam_policy_document" "secrets_kms" {
  count = length(var.secretsmanager_secret_arns) > 0 && length(var.secrets_kms_key_arns) > 0 ? 1 : 0

  statement {
    sid       = "DecryptGatewaySecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = var.secrets_kms_key_arns

    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = ["secretsmanager.*.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "secrets_kms" {
  count = length(var.secretsmanager_secret_arns) > 0 && length(var.secrets_kms_key_arns) > 0 ? 1 : 0

  name   = "secretsmanager-kms-decrypt"
  role   = aws_iam_role.llmproxy.id
  policy = data.aws_iam_policy_document.secrets_kms[0].json
}
