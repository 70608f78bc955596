<?xml version="1.0"?>
<!--
  The meaning of a CIB's configuration as text, one fact a line, for
  test/pcs/run to compare what pcs and crmsh built (sort the output first).

  Each line starts with the path of the element it is about, its steps named
  by element and id: clone[ms_guard]/primitive[p_guard]. Ids the tools
  generate are left out: those of attribute sets, nvpairs and operations. An
  operation is named by what Pacemaker tells operations apart by: its name,
  interval and role. An nvpair is a fact of the element that holds its set,
  tagged with the set's kind (meta_attributes, instance_attributes), so a
  meta attribute on the primitive differs from the same one on its clone.
  Comments (crmsh keeps the file's) and the status section are left out.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>

  <xsl:template match="/">
    <xsl:apply-templates select="/cib/configuration//*"/>
  </xsl:template>

  <!-- Attribute sets: only their nvpairs say something. -->
  <xsl:template match="meta_attributes | instance_attributes | utilization"/>

  <xsl:template match="nvpair">
    <xsl:choose>
      <xsl:when test="parent::meta_attributes or parent::instance_attributes or parent::utilization">
        <xsl:apply-templates select="../.." mode="path"/>
        <xsl:value-of select="concat(' ', local-name(..), ' ')"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:apply-templates select=".." mode="path"/>
        <xsl:text> </xsl:text>
      </xsl:otherwise>
    </xsl:choose>
    <xsl:value-of select="concat(@name, '=', @value)"/>
    <xsl:text>&#10;</xsl:text>
  </xsl:template>

  <!-- An order's actions default to start (Pacemaker's schema): crmsh
       leaves them out, pcs writes them. -->
  <xsl:template match="rsc_order">
    <xsl:apply-templates select="." mode="path"/>
    <xsl:apply-templates select="@*[name() != 'id' and name() != 'first-action' and name() != 'then-action']" mode="attr">
      <xsl:sort select="name()"/>
    </xsl:apply-templates>
    <xsl:value-of select="concat(' first-action=', substring('start', 1, 5 * not(@first-action)), @first-action)"/>
    <xsl:value-of select="concat(' then-action=', substring('start', 1, 5 * not(@then-action)), @then-action)"/>
    <xsl:text>&#10;</xsl:text>
  </xsl:template>

  <!-- Any other element: its path and its attributes but the id. -->
  <xsl:template match="*">
    <xsl:apply-templates select="." mode="path"/>
    <xsl:apply-templates select="@*[name() != 'id']" mode="attr">
      <xsl:sort select="name()"/>
    </xsl:apply-templates>
    <xsl:text>&#10;</xsl:text>
  </xsl:template>

  <xsl:template match="@*" mode="attr">
    <xsl:value-of select="concat(' ', name(), '=', .)"/>
  </xsl:template>

  <!-- The path: the steps below <configuration>, without the containers
       whose ids are generated. -->
  <xsl:template match="*" mode="path">
    <xsl:for-each select="ancestor-or-self::*[count(ancestor::configuration) = 1]">
      <xsl:if test="position() > 1">/</xsl:if>
      <xsl:apply-templates select="." mode="step"/>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="op" mode="step" priority="1">
    <xsl:value-of select="concat('op[', @name, ' ', @interval)"/>
    <xsl:if test="@role">
      <xsl:value-of select="concat(' ', @role)"/>
    </xsl:if>
    <xsl:text>]</xsl:text>
  </xsl:template>

  <xsl:template match="*[@id]" mode="step">
    <xsl:value-of select="concat(local-name(), '[', @id, ']')"/>
  </xsl:template>

  <xsl:template match="*" mode="step">
    <xsl:value-of select="local-name()"/>
  </xsl:template>
</xsl:stylesheet>
