/**
 * SageMaker ARNs as the service forms them: `arn:aws:sagemaker:<region>:<account>:<kind>/<name>`
 * with the name lower-cased. There is no AWS account here: the account is 000000000000.
 */

export const LOCAL_ACCOUNT = '000000000000';

export type ArnKind = 'training-job' | 'model' | 'endpoint-config' | 'endpoint' | 'transform-job';

export function sagemakerArn(region: string, kind: ArnKind, name: string): string {
  return `arn:aws:sagemaker:${region}:${LOCAL_ACCOUNT}:${kind}/${name.toLowerCase()}`;
}
