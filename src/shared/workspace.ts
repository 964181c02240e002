/**
 * The folder a workspace path ends in (`/home/ann/shop/` → `shop`): the name `project:<p>`
 * addressing and the hooks' "same repository" go by, so clones on different machines agree.
 */
export function folderOf(workspace: string): string {
  return workspace.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '';
}
