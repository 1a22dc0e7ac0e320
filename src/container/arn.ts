/**
 * SageMaker ARNs as the service forms them: `arn:aws:sagemaker:<region>:<account>:<kind>/<name>`
 * with the name lower-cased. There is no AWS account here: the account is 000000000000. Also the
 * rule every such name follows (jobs, models, endpoint configs, endpoints, variants).
 */

export const LOCAL_ACCOUNT = '000000000000';

/** SageMaker resource names: EndpointName, VariantName, EndpointConfigName, job names (botocore). */
export const RESOURCE_NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
/** RESOURCE_NAME in words, for validation messages. */
export const RESOURCE_NAME_RULE = '1-63 letters, digits and hyphens, starting and ending with a letter or digit';

export type ArnKind = 'training-job' | 'model' | 'endpoint-config' | 'endpoint' | 'transform-job';

export function sagemakerArn(region: string, kind: ArnKind, name: string): string {
  return `arn:aws:sagemaker:${region}:${LOCAL_ACCOUNT}:${kind}/${name.toLowerCase()}`;
}
