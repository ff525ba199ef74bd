import type { GraphQLResolveInfo } from 'graphql';
import { Field, Int, ObjectType } from 'type-graphql';
import type { Page, PageQuery } from '../db/page';
import { DEFAULT_PAGE_SIZE, PageArgs } from './page-args';
import type { Cursors } from './relay';
import { selectsField } from './selection';

/** Relay page info, shared by every connection of the schema. */
@ObjectType({ simpleResolvers: true, description: 'Where a page stands in its list.' })
export class PageInfo {
  @Field({ description: 'Whether there are more after this page.' })
  hasNextPage: boolean;

  @Field(() => String, {
    nullable: true,
    description: "The last edge's cursor, to pass as `after` for the next page; null when the page is empty.",
  })
  endCursor: string | null;
}

/** How a connection's types are named and described. */
export interface ConnectionNames {
  /** The node type's GraphQL name: the types are `<name>Connection` and `<name>Edge`. */
  name: string;
  /** One node and many, in words ("workflow", "workflows"). */
  item: string;
  items: string;
  /** The list's order, in words ("oldest first"). */
  order: string;
  /** What `totalCount` counts. */
  totalCount: string;
}

/** What a connection's node field can name: an object or an interface class. */
type NodeClass<TNode> = abstract new (...args: never[]) => TNode;

/**
 * A Relay connection of `node`s (type-graphql's generic types): extend it with the connection's
 * own `@ObjectType`, e.g. `@ObjectType() class WorkflowConnection extends Connection(Workflow, …) {}`.
 * Resolvers answer it with `paginate`.
 */
export function Connection<TNode extends object>(node: NodeClass<TNode>, names: ConnectionNames) {
  @ObjectType(`${names.name}Edge`, {
    simpleResolvers: true,
    description: `One ${names.item} of a page, with the cursor to pass as \`after\` for the page after it.`,
  })
  class Edge {
    @Field({ description: `Opaque; pass it as \`after\` to get the ${names.items} after this one.` })
    cursor: string;

    @Field(() => node, { description: `The ${names.item}.` })
    node: TNode;
  }

  // Not in the schema itself: only the class extending it is.
  @ObjectType({ simpleResolvers: true })
  abstract class ConnectionClass {
    @Field(() => [Edge], { description: `The ${names.items} of this page, ${names.order}.` })
    edges: Edge[];

    @Field(() => PageInfo, { description: 'Whether there is a next page, and the cursor to get it.' })
    pageInfo: PageInfo;

    @Field(() => Int, { description: names.totalCount })
    totalCount: number;
  }
  return ConnectionClass;
}

/** An edge as the schema reads it; the cursor is encoded only when it is selected. */
class PageEdge<TNode> {
  constructor(
    readonly node: TNode,
    private readonly encode: (node: TNode) => string,
  ) {}

  get cursor(): string {
    return this.encode(this.node);
  }
}

/** A connection's value as the schema reads it (graphql-js reads the properties; no resolver per field). */
export class PageConnection<TNode> {
  constructor(
    readonly edges: PageEdge<TNode>[],
    readonly pageInfo: PageInfo,
    private readonly count: number | undefined,
  ) {}

  get totalCount(): number {
    // paginate counts whenever the field is selected; reaching this without a count is a bug.
    if (this.count === undefined) throw new Error('totalCount was selected but the list was not counted');
    return this.count;
  }
}

/** The connection of a page, its edges' cursors made by `encode`. */
export function connectionOf<TNode>(page: Page<TNode>, encode: (node: TNode) => string): PageConnection<TNode> {
  const edges = page.rows.map((node) => new PageEdge(node, encode));
  const endCursor = edges.length ? edges[edges.length - 1].cursor : null;
  return new PageConnection(edges, { hasNextPage: page.hasNextPage, endCursor }, page.count);
}

/**
 * A connection field's answer: the page `load` reads for the arguments (`after` decoded by
 * `cursors`, counted only when `totalCount` is selected), as a connection.
 */
export async function paginate<TNode, TPosition>(
  args: PageArgs,
  info: GraphQLResolveInfo,
  cursors: Cursors<NoInfer<TNode>, TPosition>,
  load: (query: PageQuery<TPosition>) => Promise<Page<TNode>>,
): Promise<PageConnection<TNode>> {
  const query = { first: args.first ?? DEFAULT_PAGE_SIZE, after: cursors.decode(args.after), count: selectsField(info, 'totalCount') };
  return connectionOf(await load(query), cursors.encode);
}
