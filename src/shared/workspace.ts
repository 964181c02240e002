/**
 * The folder a workspace path ends in (`/home/ann/shop/` → `shop`): the name `project:<p>`
 * addressing and the hooks' "same repository" go by, so clones on different machines agree.
 */
export function folderOf(workspace: string): string {
  return workspace.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '';
}

/**
 * The project an agent registered with a workspace belongs to: the workspace itself
 * when it is a project name, else the folder its path ends in ('' for none). An agent bound by a
 * hook session registers with its project as its workspace.
 */
export const projectOf = (workspace: string): string => folderOf(workspace);
